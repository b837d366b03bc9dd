import math

import pytest
import torch

from ssrl.losses import barlow_twins, vicreg, vicreg_terms
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import (
    barlow_twins_reference,
    vicreg_reference,
    vicreg_terms_reference,
)

SIZES = [(2, 1), (3, 4), (8, 6), (5, 9)]

# Two centred, orthogonal columns of a 4×4 Hadamard matrix: biased variance 1, unbiased 4/3.
HADAMARD = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)


@pytest.mark.parametrize("n,d", SIZES)
@pytest.mark.parametrize("lambda_offdiag", [5e-3, 0.5])
def test_barlow_twins_matches_reference(n, d, lambda_offdiag):
    z1, z2 = randn(n, d, seed=n * 10 + d), randn(n, d, seed=n * 10 + d + 1)
    assert_matches_reference(lambda a, b: barlow_twins(a, b, lambda_offdiag),
                             lambda a, b: barlow_twins_reference(a, b, lambda_offdiag), [z1, z2])


def test_barlow_twins_eps_matches_reference():
    z1, z2 = randn(6, 3, seed=7), 0.01 * randn(6, 3, seed=8)  # small variances: ε matters
    assert_matches_reference(lambda a, b: barlow_twins(a, b, 0.1, eps=1e-3),
                             lambda a, b: barlow_twins_reference(a, b, 0.1, eps=1e-3), [z1, z2])


def test_barlow_twins_closed_forms():
    # z1 = z2 with standardized orthogonal columns: C = I, loss 0.
    assert barlow_twins(HADAMARD, HADAMARD, 0.3, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    # Scaling and shifting a view changes nothing: the loss is on correlations.
    assert barlow_twins(HADAMARD, 3 * HADAMARD + 2, 0.3, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    # z2 = -z1: C = -I, every diagonal term (1 - (-1))² = 4.
    assert barlow_twins(HADAMARD, -HADAMARD, 0.3, eps=0.0).item() == pytest.approx(8.0, rel=1e-12)
    # Columns swapped: C = [[0, 1], [1, 0]], loss = 2·1 + λ·2.
    assert barlow_twins(HADAMARD, HADAMARD.flip(1), 0.3, eps=0.0).item() == pytest.approx(2 + 0.3 * 2, rel=1e-12)


@pytest.mark.parametrize("n,d", SIZES)
@pytest.mark.parametrize("weights,gamma", [((25.0, 25.0, 1.0), 1.0), ((1.0, 2.0, 3.0), 2.0), ((0.5, 1.0, 0.1), 0.5)])
def test_vicreg_matches_reference(n, d, weights, gamma):
    z1, z2 = randn(n, d, seed=n * 10 + d), randn(n, d, seed=n * 10 + d + 1)
    assert_matches_reference(lambda a, b: vicreg(a, b, *weights, gamma=gamma, eps=1e-4),
                             lambda a, b: vicreg_reference(a, b, *weights, gamma, 1e-4), [z1, z2])


@pytest.mark.parametrize("term", [0, 1, 2])
def test_vicreg_each_term_matches_reference(term):
    z1, z2 = randn(6, 5, seed=3), 0.7 * randn(6, 5, seed=4)
    assert_matches_reference(lambda a, b: vicreg_terms(a, b, 1.0, 1e-4)[term],
                             lambda a, b: vicreg_terms_reference(a, b, 1.0, 1e-4)[term], [z1, z2])


def test_vicreg_closed_forms():
    # Identical views: invariance 0. Hadamard columns: uncorrelated, so covariance 0, and
    # std sqrt(4/3 + ε) > γ = 1, so variance 0.
    inv, var, cov = vicreg_terms(HADAMARD, HADAMARD.clone())
    assert (inv.item(), var.item(), cov.item()) == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    # Shift one view by 1 everywhere: invariance (MSE) 1, the rest unchanged.
    inv, var, cov = vicreg_terms(HADAMARD, HADAMARD + 1)
    assert (inv.item(), var.item(), cov.item()) == pytest.approx((1.0, 0.0, 0.0), abs=1e-12)
    # Constant embeddings (collapse): std 0, so each view's v = γ − sqrt(ε), covariance 0.
    z = torch.full((5, 3), 0.7, dtype=torch.float64)
    inv, var, cov = vicreg_terms(z, z, gamma=2.0, eps=1e-4)
    assert var.item() == pytest.approx(2 * (2.0 - math.sqrt(1e-4)), rel=1e-12)
    assert inv.item() == 0.0 and cov.item() == pytest.approx(0.0, abs=1e-12)
    # Perfectly correlated columns [t, t] with unbiased var 4/3: C_01 = C_10 = 4/3, c = 2·(4/3)²/2.
    t = HADAMARD[:, :1]
    _, _, cov = vicreg_terms(torch.cat([t, t], 1), torch.cat([t, -t], 1))
    assert cov.item() == pytest.approx(2 * (4 / 3) ** 2, rel=1e-12)
    assert vicreg(HADAMARD, HADAMARD + 1, 25.0, 25.0, 1.0).item() == pytest.approx(25.0, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_statistics_in_float32(dtype):
    z1, z2 = randn(16, 8, seed=1), randn(16, 8, seed=2)
    for fn in (barlow_twins, vicreg):
        half = fn(z1.to(dtype), z2.to(dtype))
        assert half.dtype == torch.float32
        assert half.item() == pytest.approx(fn(z1.to(dtype).double(), z2.to(dtype).double()).item(), rel=1e-4)


@pytest.mark.parametrize("fn,name", [(barlow_twins, "barlow_twins"), (vicreg, "vicreg"), (vicreg_terms, "vicreg")])
def test_bad_shapes_are_rejected(fn, name):
    with pytest.raises(ValueError, match=f"{name}.*must both be"):
        fn(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match=f"{name}.*must both be"):
        fn(torch.ones(4), torch.ones(4))
    with pytest.raises(ValueError, match=f"{name}.*at least 2 samples"):
        fn(torch.ones(1, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match=f"{name}.*at least one dimension"):
        fn(torch.ones(3, 0), torch.ones(3, 0))
