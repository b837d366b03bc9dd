import math
import warnings

import pytest
import torch

from ssrl.collapse import effective_rank, embedding_std, warn_if_collapsed


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
