"""SwAV's Sinkhorn codes and swapped-prediction loss (Caron et al. 2020, arXiv:2006.09882)
against loops written from the paper's Algorithm 1 and eq. (1)-(3), and closed forms."""

import math

import pytest
import torch

from ssrl.losses.swapped import sinkhorn, swav_loss
from tests.losses.compare import randn


def sinkhorn_reference(scores, epsilon, iterations):
    """Algorithm 1 (``distributed_sinkhorn``) with Python floats, Q indexed [k][b] as the paper:
    Q = exp(scores/ε)ᵀ / Σ; repeat: each row (prototype) to 1/K, each column (sample) to 1/B;
    return (Q·B)ᵀ."""
    n, k = scores.shape
    q = [[math.exp(float(scores[b, j]) / epsilon) for b in range(n)] for j in range(k)]
    total = sum(sum(row) for row in q)
    q = [[v / total for v in row] for row in q]
    for _ in range(iterations):
        for j in range(k):
            r = sum(q[j])
            q[j] = [v / r / k for v in q[j]]
        for b in range(n):
            c = sum(q[j][b] for j in range(k))
            for j in range(k):
                q[j][b] = q[j][b] / c / n
    return torch.tensor([[q[j][b] * n for j in range(k)] for b in range(n)], dtype=torch.float64)


@pytest.mark.parametrize("n, k", [(6, 4), (3, 7), (10, 10), (1, 3)])
@pytest.mark.parametrize("epsilon, iterations", [(0.05, 3), (0.5, 1), (1.0, 10)])
def test_sinkhorn_matches_algorithm_1(n, k, epsilon, iterations):
    scores = torch.nn.functional.normalize(randn(n, k, seed=n * k), dim=1)  # cosines, as SwAV's
    q = sinkhorn(scores, epsilon, iterations)
    torch.testing.assert_close(q, sinkhorn_reference(scores, epsilon, iterations), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, k", [(8, 4), (12, 30), (30, 12)])
def test_rows_are_distributions_and_prototypes_share_the_batch_equally(n, k):
    scores = torch.nn.functional.normalize(randn(n, k, seed=k), dim=1)
    q = sinkhorn(scores, 0.05, 3)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(n, dtype=torch.float64))  # after the final scaling
    assert (q >= 0).all()
    converged = sinkhorn(scores, 0.5, 500)  # the equal partition is the fixed point: B/K each
    torch.testing.assert_close(converged.sum(dim=0), torch.full((k,), n / k, dtype=torch.float64), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(converged.sum(dim=1), torch.ones(n, dtype=torch.float64))


def test_indistinguishable_samples_get_uniform_codes():
    # Every sample scores the same: the equal partition leaves each sample 1/K on every prototype.
    scores = randn(1, 5, seed=0).repeat(4, 1)
    torch.testing.assert_close(sinkhorn(scores, 0.05, 3), torch.full((4, 5), 0.2, dtype=torch.float64))


def test_sharp_scores_with_one_sample_per_prototype_give_a_permutation():
    perm = torch.tensor([2, 0, 3, 1])
    q = sinkhorn(torch.eye(4, dtype=torch.float64)[perm], 0.05, 3)
    assert torch.equal(q.argmax(dim=1), perm)
    assert (q.max(dim=1).values > 0.99).all()


def test_one_prototype_cannot_take_the_whole_batch():
    # Every sample prefers prototype 0; the partition still spreads the batch over all prototypes.
    scores = torch.zeros(6, 3, dtype=torch.float64)
    scores[:, 0] = 1.0
    scores[:, 1] = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    mass = sinkhorn(scores, 0.05, 50).sum(dim=0)
    torch.testing.assert_close(mass, torch.full((3,), 2.0, dtype=torch.float64), rtol=1e-4, atol=1e-6)


def test_no_overflow_and_a_constant_shift_changes_nothing():
    scores = randn(5, 4, seed=1)
    q = sinkhorn(scores, 0.05, 3)
    torch.testing.assert_close(sinkhorn(scores + 1000.0, 0.05, 3), q)  # exp(20000) if not shifted
    cosines = torch.nn.functional.normalize(scores, dim=1).float()
    sharp = sinkhorn(cosines, 0.01, 3)  # exp(±100) overflows float32: computed in float64
    assert sharp.dtype == torch.float32 and torch.isfinite(sharp).all()
    torch.testing.assert_close(sharp, sinkhorn_reference(cosines.double(), 0.01, 3).float())


def test_sinkhorn_takes_no_gradient_and_keeps_float32():
    scores = torch.randn(4, 3, requires_grad=True)
    q = sinkhorn(scores)
    assert q.dtype == torch.float32 and not q.requires_grad
    assert sinkhorn(scores.bfloat16()).dtype == torch.float32


def test_sinkhorn_rejects_bad_inputs():
    with pytest.raises(ValueError, match="scores"):
        sinkhorn(torch.zeros(4))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn(torch.zeros(2, 3), epsilon=0.0)
    with pytest.raises(ValueError, match="iterations"):
        sinkhorn(torch.zeros(2, 3), iterations=0)


def swav_loss_reference(scores, codes, temperature):
    """Eq. (1)-(3), one sample and one pair at a time: for coded view s and every view t ≠ s,
    ℓ = −Σ_k q_s[k] log (e^{z_t·c_k/τ} / Σ_k' e^{z_t·c_k'/τ}); the mean over samples, then pairs."""
    pair_means = []
    for s, q_view in enumerate(codes):
        for t, z_view in enumerate(scores):
            if s == t:
                continue
            total = 0
            for q, z in zip(q_view, z_view):
                log_p = z / temperature - torch.log(torch.exp(z / temperature).sum())
                total = total - (q.detach() * log_p).sum()
            pair_means.append(total / len(z_view))
    return sum(pair_means) / len(pair_means)


@pytest.mark.parametrize("n_views, n_coded, batch, k", [(2, 2, 3, 5), (6, 2, 4, 7), (3, 1, 2, 4), (4, 2, 1, 3)])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_swav_loss_matches_eq_1_to_3(n_views, n_coded, batch, k, temperature):
    seed = 100 * n_views + batch
    scores = [torch.tanh(randn(batch, k, seed=seed + v)).requires_grad_(True) for v in range(n_views)]
    codes = [sinkhorn(scores[v].detach(), 0.05, 3).requires_grad_(True) for v in range(n_coded)]
    fast = swav_loss(scores, codes, temperature)
    slow = swav_loss_reference(scores, codes, temperature)
    assert fast.ndim == 0
    assert fast.item() == pytest.approx(slow.item(), rel=1e-9)
    fast_grads = torch.autograd.grad(fast, scores + codes, allow_unused=True)
    slow_grads = torch.autograd.grad(slow, scores, allow_unused=True)  # None: a view in no pair
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b if b is not None else torch.zeros_like(a), rtol=1e-9, atol=1e-12)
    assert all(g is None for g in fast_grads[n_views:])  # no gradient through the codes


def test_gradient_of_one_pair_is_the_softmax_minus_the_codes():
    # For one pair, ∂ℓ/∂z_t = (p_t − q_s) / τ / B: the closed form of softmax cross-entropy.
    z_t = randn(3, 5, seed=1).requires_grad_(True)
    q_s = sinkhorn(randn(3, 5, seed=2))
    loss = swav_loss([randn(3, 5, seed=3), z_t], [q_s], 0.2)
    (grad,) = torch.autograd.grad(loss, z_t)
    torch.testing.assert_close(grad, (torch.softmax(z_t / 0.2, dim=1) - q_s) / 0.2 / 3)


def test_uniform_scores_cost_log_k():
    scores = [torch.zeros(4, 6, dtype=torch.float64) for _ in range(3)]
    codes = [sinkhorn(randn(4, 6, seed=s)) for s in range(2)]
    assert swav_loss(scores, codes, 0.1).item() == pytest.approx(math.log(6))


def test_swav_loss_rejects_bad_inputs():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="no pair"):
        swav_loss([x], [x])
    with pytest.raises(ValueError, match="no pair"):
        swav_loss([x, x], [x, x, x])
    with pytest.raises(ValueError, match="same"):
        swav_loss([x, torch.zeros(2, 4)], [x])
    with pytest.raises(ValueError, match="codes are"):
        swav_loss([x, x], [torch.zeros(3, 3)])
    with pytest.raises(ValueError, match="list"):
        swav_loss(x, [x])
