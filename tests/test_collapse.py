import math
import warnings

import pytest
import torch

from ssrl.collapse import collapse_message, collapse_stats, effective_rank, embedding_std, warn_if_collapsed


def test_embedding_std_collapsed_and_spread():
    assert embedding_std(torch.ones(8, 4)).item() == pytest.approx(0.0)
    # The 4 signed axes of R^2: each coordinate is (1, -1, 0, 0) in some order, std sqrt(2/3).
    axes = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert embedding_std(axes).item() == pytest.approx(math.sqrt(2 / 3))


def test_effective_rank_counts_equal_directions():
    # Centred rows spanning k orthogonal directions with equal energy: k equal singular values, rank k.
    for k in (1, 2, 3):
        rows = torch.cat([torch.eye(4)[:k], -torch.eye(4)[:k]])
        assert effective_rank(rows).item() == pytest.approx(k, rel=1e-5)


def test_effective_rank_of_unequal_singular_values():
    z = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # singular values 3√2, √2
    p = torch.tensor([0.75, 0.25])
    assert effective_rank(z).item() == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-5)


def test_warns_only_when_collapsed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_collapsed(0.02, 30.0, epoch=0) is False
        assert warn_if_collapsed(0.02, None, epoch=0) is False
    with pytest.warns(RuntimeWarning, match="epoch 3: the embeddings have collapsed"):
        assert warn_if_collapsed(1e-5, 30.0, epoch=3) is True  # to a point
    with pytest.warns(RuntimeWarning, match="effective rank 2.0"):
        assert warn_if_collapsed(0.02, 2.0, epoch=3) is True  # to a few directions


def test_dimensional_collapse_warns_relative_to_the_largest_possible_rank():
    """Rank 11.3 of at most 256 (min(batch, D)) is the no-stop-gradient SimSiam on Fashion-MNIST;
    58.5 of 256 the same run with it (BENCHMARKS.md, "Collapse monitor")."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_collapsed(0.043, 58.5, epoch=2, ceiling=256.0) is False
        assert warn_if_collapsed(0.04, 11.3, epoch=2, ceiling=None) is False  # no ceiling: the absolute floor only
    with pytest.warns(RuntimeWarning, match=r"epoch 2: .*to a few directions .*effective rank 11.3 of at most 256, "
                                            r"under 12.8"):
        assert warn_if_collapsed(0.04, 11.3, epoch=2, ceiling=256.0) is True
    assert collapse_message(1e-5, 30.0, 256.0).startswith("to a point")
    assert collapse_message(0.04, 30.0, 256.0) is None


def test_collapse_stats_give_the_rank_ceiling():
    stats = collapse_stats(torch.randn(16, 4))
    assert stats["rank_ceiling"].item() == 4 and 1 <= stats["effective_rank"].item() <= 4
