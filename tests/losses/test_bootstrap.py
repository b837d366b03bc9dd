import pytest
import torch

from ssrl.losses import simsiam_loss


def test_simsiam_loss_hand_computed():
    # cos(p1, z2) = 1 and cos(p2, z1) = 0: L = (-1 + 0) / 2.
    p1, z2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    p2, z1 = torch.tensor([[0.0, 1.0]]), torch.tensor([[3.0, 0.0]])
    assert simsiam_loss(p1, p2, z1, z2).item() == pytest.approx(-0.5)


def test_simsiam_loss_matches_formula_and_stops_gradient_into_projections():
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4))
    loss = simsiam_loss(p1, p2, z1, z2)
    cos = torch.nn.functional.cosine_similarity
    expected = -(sum(cos(p1[i], z2[i], dim=0) for i in range(5)) / 5 + sum(cos(p2[i], z1[i], dim=0) for i in range(5)) / 5) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    gp1, gz1, gz2 = torch.autograd.grad(loss, (p1, z1, z2), allow_unused=True)
    assert gp1 is not None and gp1.abs().sum() > 0
    assert gz1 is None and gz2 is None  # the stop-gradient


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="simsiam_loss"):
        simsiam_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 3))
