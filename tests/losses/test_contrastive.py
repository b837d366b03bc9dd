import pytest
import torch

from ssrl.losses import info_nce, nt_xent
from tests.losses.reference import log_2n_minus_1, nt_xent_reference


@pytest.mark.parametrize("n,d", [(1, 3), (2, 4), (5, 8)])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_reference(n, d, temperature):
    g = torch.Generator().manual_seed(n * 10 + d)
    z1, z2 = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    fast = nt_xent(z1, z2, temperature)
    fast_grads = torch.autograd.grad(fast, (z1, z2))
    slow = nt_xent_reference(z1, z2, temperature)
    slow_grads = torch.autograd.grad(slow, (z1, z2))
    assert fast.item() == pytest.approx(slow.item(), rel=1e-6)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n", [1, 3, 16])
def test_nt_xent_identical_embeddings_is_log_2n_minus_1(n):
    z = torch.ones(n, 4)
    assert nt_xent(z, z, 0.3).item() == pytest.approx(log_2n_minus_1(n), rel=1e-6)


def test_nt_xent_hand_computed_two_images():
    # Orthogonal unit vectors: image 0 views along e0, image 1 views along e1, τ = 1.
    # Anchor view: positive sim 1, the other image's two views sim 0, so
    # ℓ = -log(e / (e + 2)) for each of the 4 anchors.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = nt_xent(z1, z1.clone(), temperature=1.0)
    e = torch.e
    assert loss.item() == pytest.approx(-torch.log(torch.tensor(e / (e + 2))).item(), rel=1e-6)


def test_info_nce_is_cross_entropy_over_keys():
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    loss = info_nce(q, keys, torch.tensor([0]), temperature=0.5)
    logits = torch.tensor([2.0, 0.0, -2.0])
    assert loss.item() == pytest.approx(-(logits[0] - logits.logsumexp(0)).item(), rel=1e-6)
    # Excluding the positive's competitor changes the denominator only.
    loss_ex = info_nce(q, keys, torch.tensor([0]), 0.5, exclude=torch.tensor([2]))
    assert loss_ex.item() == pytest.approx(-(logits[0] - logits[:2].logsumexp(0)).item(), rel=1e-6)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="nt_xent"):
        nt_xent(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.ones(1, 2), torch.ones(2, 2), torch.tensor([0]), temperature=0.0)
