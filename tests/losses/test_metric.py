import pytest
import torch

from ssrl.losses import margin_contrastive, triplet
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import margin_contrastive_reference, triplet_reference


@pytest.mark.parametrize("n,d", [(1, 2), (4, 3), (9, 5)])
@pytest.mark.parametrize("margin", [0.5, 1.0, 3.0])
def test_margin_contrastive_matches_reference(n, d, margin):
    x1, x2 = randn(n, d, seed=n), randn(n, d, seed=n + 100)
    similar = torch.arange(n) % 2 == 0  # both kinds of pair, and bool flags
    assert_matches_reference(
        lambda a, b: margin_contrastive(a, b, similar, margin),
        lambda a, b: margin_contrastive_reference(a, b, similar, margin),
        [x1, x2],
    )


def test_margin_contrastive_closed_forms():
    x = torch.randn(5, 3, requires_grad=True)
    ones, zeros = torch.ones(5), torch.zeros(5)
    # Identical similar pairs cost nothing; coincident dissimilar pairs cost m²/2 each.
    assert margin_contrastive(x, x, ones, margin=2.0).item() == 0.0
    loss = margin_contrastive(x, x, zeros, margin=2.0)
    assert loss.item() == pytest.approx(2.0**2 / 2)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all()  # d = 0 is not a NaN gradient


def test_margin_contrastive_hand_computed():
    # Pair 0 similar at distance 5 (3-4-5): 25/2. Pair 1 dissimilar at distance 1, m = 3:
    # (3 - 1)²/2 = 2. Pair 2 dissimilar at distance 5 > m: 0. Mean (12.5 + 2 + 0) / 3.
    x1 = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    x2 = torch.tensor([[3.0, 4.0], [1.0, 2.0], [3.0, 4.0]])
    loss = margin_contrastive(x1, x2, torch.tensor([1, 0, 0]), margin=3.0)
    assert loss.item() == pytest.approx(14.5 / 3)


@pytest.mark.parametrize("n,d", [(1, 2), (5, 3), (8, 6)])
@pytest.mark.parametrize("margin", [0.0, 0.2, 2.0])
@pytest.mark.parametrize("squared", [True, False])
def test_triplet_matches_reference(n, d, margin, squared):
    a, p, neg = randn(n, d, seed=n), randn(n, d, seed=n + 1), randn(n, d, seed=n + 2)
    assert_matches_reference(
        lambda *x: triplet(*x, margin=margin, squared=squared),
        lambda *x: triplet_reference(*x, margin=margin, squared=squared),
        [a, p, neg],
    )


@pytest.mark.parametrize("squared", [True, False])
def test_triplet_coincident_points_cost_the_margin(squared):
    x = torch.randn(4, 3, requires_grad=True)
    loss = triplet(x, x, x, margin=0.7, squared=squared)
    assert loss.item() == pytest.approx(0.7)
    assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()


def test_triplet_hand_computed():
    # a = 0, p at distance 1, n at distance 2, α = 0.5.
    # Squared: max(0, 1 - 4 + 0.5) = 0. Plain: max(0, 1 - 2 + 0.5) = 0. Swap p and n:
    # squared 4 - 1 + 0.5 = 3.5, plain 2 - 1 + 0.5 = 1.5.
    a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert triplet(a, p, n, margin=0.5).item() == 0.0
    assert triplet(a, p, n, margin=0.5, squared=False).item() == 0.0
    assert triplet(a, n, p, margin=0.5).item() == pytest.approx(3.5)
    assert triplet(a, n, p, margin=0.5, squared=False).item() == pytest.approx(1.5)


def test_metric_losses_reject_bad_inputs():
    x = torch.ones(3, 2)
    with pytest.raises(ValueError, match="margin_contrastive: x1"):
        margin_contrastive(x, torch.ones(2, 2), torch.ones(3))
    with pytest.raises(ValueError, match="similar"):
        margin_contrastive(x, x, torch.ones(2))
    with pytest.raises(ValueError, match="0/1"):
        margin_contrastive(x, x, torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="margin must be > 0"):
        margin_contrastive(x, x, torch.ones(3), margin=0.0)
    with pytest.raises(ValueError, match="at least one pair"):
        margin_contrastive(torch.ones(0, 2), torch.ones(0, 2), torch.ones(0))
    with pytest.raises(ValueError, match="triplet: anchor"):
        triplet(x, x, torch.ones(3, 3))
    with pytest.raises(ValueError, match="triplet: anchor"):
        triplet(torch.ones(3), torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="margin must be >= 0"):
        triplet(x, x, x, margin=-0.1)
    with pytest.raises(ValueError, match="at least one triplet"):
        triplet(torch.ones(0, 2), torch.ones(0, 2), torch.ones(0, 2))
