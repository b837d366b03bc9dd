import math

import pytest
import torch

from ssrl.losses import lifted_structured, n_pair
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import lifted_structured_reference, n_pair_reference


@pytest.mark.parametrize(
    "labels",
    [[0, 0, 1], [0, 1, 0, 1], [2, 0, 1, 1, 0, 2, 2], [5, 5, 5, 7, 9, 9, 3, 5]],
)
@pytest.mark.parametrize("margin", [0.5, 1.0, 4.0])
def test_lifted_structured_matches_reference(labels, margin):
    labels = torch.tensor(labels)
    x = randn(len(labels), 3, seed=len(labels))
    assert_matches_reference(
        lambda e: lifted_structured(e, labels, margin),
        lambda e: lifted_structured_reference(e, labels, margin),
        [x],
    )


def test_lifted_structured_hand_computed():
    # 1-D points 0, 1 (class 0) and 3 (class 1), α = 1. One positive pair, D_01 = 1,
    # negatives D_02 = 3, D_12 = 2: J = log(e^{1-3} + e^{1-2}) + 1 = log(1 + e^{-1}), L = J²/2.
    x = torch.tensor([[0.0], [1.0], [3.0]])
    loss = lifted_structured(x, torch.tensor([0, 0, 1]), margin=1.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)) ** 2 / 2, rel=1e-6)


def test_lifted_structured_coincident_points():
    # Two classes of two, all at one point: D = 0, each end has 2 negatives at e^α,
    # so J = log(4 e^α) = α + log 4 for every positive pair.
    x = torch.ones(4, 3, requires_grad=True)
    loss = lifted_structured(x, torch.tensor([0, 0, 1, 1]), margin=0.5)
    assert loss.item() == pytest.approx((0.5 + math.log(4)) ** 2 / 2, rel=1e-6)
    assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()


def test_lifted_structured_well_separated_classes_cost_nothing():
    # Classes 100 apart, members 0.1 apart: J ≈ log(2 e^{1-100}) + 0.1 < 0.
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [100.0, 0.0], [100.1, 0.0]])
    assert lifted_structured(x, torch.tensor([0, 0, 1, 1])).item() == 0.0


@pytest.mark.parametrize("n,d", [(1, 3), (3, 2), (6, 5)])
@pytest.mark.parametrize("l2_reg", [0.0, 0.02, 1.0])
def test_n_pair_matches_reference(n, d, l2_reg):
    anchors, positives = randn(n, d, seed=n), randn(n, d, seed=n + 50)
    assert_matches_reference(
        lambda a, p: n_pair(a, p, l2_reg),
        lambda a, p: n_pair_reference(a, p, l2_reg),
        [anchors, positives],
    )


@pytest.mark.parametrize("n", [1, 2, 5])
def test_n_pair_orthogonal_classes(n):
    # f_i = f⁺_i = s·e_i: own logit s², others 0, so L = log(1 + (N-1) e^{-s²}) + λ·2s².
    s, lam = 1.5, 0.1
    f = s * torch.eye(n)
    expected = math.log(1 + (n - 1) * math.exp(-(s**2))) + lam * 2 * s**2
    assert n_pair(f, f.clone(), l2_reg=lam).item() == pytest.approx(expected, rel=1e-6)


def test_structured_losses_reject_bad_inputs():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="embeddings"):
        lifted_structured(torch.randn(4), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="labels"):
        lifted_structured(x, torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="no positive pair"):
        lifted_structured(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="no negative pair"):
        lifted_structured(x, torch.tensor([1, 1, 1, 1]))
    with pytest.raises(ValueError, match="margin must be > 0"):
        lifted_structured(x, torch.tensor([0, 0, 1, 1]), margin=0.0)
    with pytest.raises(ValueError, match="n_pair: anchors"):
        n_pair(x, torch.randn(3, 2))
    with pytest.raises(ValueError, match="at least one"):
        n_pair(torch.randn(0, 2), torch.randn(0, 2))
    with pytest.raises(ValueError, match="l2_reg"):
        n_pair(x, x, l2_reg=-1.0)
