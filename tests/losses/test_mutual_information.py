import math

import pytest
import torch

from ssrl.losses.mutual_information import local_nce, soft_clip
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import local_nce_reference


def _total(clip, penalty):
    return lambda s, t: sum(local_nce(s, t, clip, penalty))


@pytest.mark.parametrize("b,d,n_loc", [(2, 3, 1), (3, 4, 4), (4, 5, 9)])
@pytest.mark.parametrize("clip,penalty", [(20.0, 0.05), (1.5, 0.0), (3.0, 0.5)])
def test_local_nce_matches_reference(b, d, n_loc, clip, penalty):
    # Scaled inputs make some scores large enough for the clipping to bite at c = 1.5.
    source, target = 3 * randn(b, d, seed=b), 3 * randn(b, d, n_loc, seed=d + n_loc)
    assert_matches_reference(_total(clip, penalty), lambda s, t: local_nce_reference(s, t, clip, penalty),
                             [source, target])


def test_orthogonal_features_closed_form():
    # Image i's source and every target location along e_i: own scores e_i·e_i/√D = 1/√2,
    # every negative 0. Without clipping effects (c large): ℓ = −log e^s / (e^s + (B−1)·L).
    d, n_loc = 2, 3
    source = torch.eye(d)
    target = torch.eye(d)[:, :, None].expand(d, d, n_loc)
    nce, reg = local_nce(source, target, clip=1e6, penalty=1.0)
    s = 1 / math.sqrt(d)
    assert nce.item() == pytest.approx(-math.log(math.exp(s) / (math.exp(s) + (d - 1) * n_loc)), rel=1e-5)
    assert reg.item() == pytest.approx(s**2 * d * n_loc / (d * d * n_loc), rel=1e-5)  # only own scores are non-zero


def test_soft_clip_bounds_and_passes_small_scores():
    x = torch.tensor([-1e4, -0.01, 0.0, 0.01, 1e4])
    y = soft_clip(x, 20.0)
    assert y.abs().max() <= 20.0
    torch.testing.assert_close(y[1:4], x[1:4], rtol=1e-6, atol=1e-9)


def test_bf16_scores_give_a_float32_loss_near_float32():
    source, target = randn(8, 16, seed=0).float(), randn(8, 16, 4, seed=1).float()
    nce32, _ = local_nce(source, target)
    nce16, _ = local_nce(source.bfloat16(), target.bfloat16())
    assert nce16.dtype == torch.float32
    assert nce16.item() == pytest.approx(nce32.item(), rel=2e-2)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="local_nce"):
        local_nce(torch.ones(3, 4), torch.ones(2, 4, 5))
