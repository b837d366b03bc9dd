"""DINO's loss and centre (Caron et al. 2021, arXiv:2104.14294) against a loop written from
Algorithm 1, hand-computed cases of centring and sharpening, and the centre's EMA formula."""

import math

import pytest
import torch

from ssrl.losses.distillation import dino_loss, update_center
from tests.losses.compare import randn


def dino_loss_reference(student, teacher, center, student_temp, teacher_temp):
    """Algorithm 1, one sample and one pair at a time: for teacher view i and student view j ≠ i,
    H(P_t, P_s) = −Σ_k P_t[k] log P_s[k] with P_t = e^{(t−c)/τ_t} / Σ e^{(t−c)/τ_t} and
    P_s = e^{s/τ_s} / Σ e^{s/τ_s}; the mean over samples, then over pairs."""
    pair_means = []
    for i, t_view in enumerate(teacher):
        for j, s_view in enumerate(student):
            if i == j:
                continue
            total = 0
            for t, s in zip(t_view, s_view):
                e_t = torch.exp((t.detach() - center) / teacher_temp)
                p_t = e_t / e_t.sum()
                log_p_s = s / student_temp - torch.log(torch.exp(s / student_temp).sum())
                total = total - (p_t * log_p_s).sum()
            pair_means.append(total / len(t_view))
    return sum(pair_means) / len(pair_means)


@pytest.mark.parametrize("n_student, n_teacher, batch, k", [(2, 2, 3, 5), (6, 2, 4, 7), (3, 1, 2, 4), (4, 2, 1, 3)])
@pytest.mark.parametrize("student_temp, teacher_temp", [(0.1, 0.04), (0.5, 0.07), (1.0, 1.0)])
def test_dino_loss_matches_algorithm_1(n_student, n_teacher, batch, k, student_temp, teacher_temp):
    seed = 100 * n_student + batch
    student = [randn(batch, k, seed=seed + v).requires_grad_(True) for v in range(n_student)]
    teacher = [randn(batch, k, seed=seed + 50 + v) for v in range(n_teacher)]
    center = randn(k, seed=seed + 99) * 0.3
    fast = dino_loss(student, teacher, center, student_temp, teacher_temp)
    slow = dino_loss_reference(student, teacher, center, student_temp, teacher_temp)
    assert fast.ndim == 0
    assert fast.item() == pytest.approx(slow.item(), rel=1e-9)
    fast_grads = torch.autograd.grad(fast, student)
    slow_grads = torch.autograd.grad(slow, student, allow_unused=True)  # None: a view in no pair
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b if b is not None else torch.zeros_like(a), rtol=1e-9, atol=1e-12)


def test_gradient_of_one_pair_is_the_softmax_difference():
    # For one pair, ∂H/∂s = (P_s − P_t) / τ_s: the closed form of softmax cross-entropy.
    s = randn(3, 5, seed=1).requires_grad_(True)
    t, center = randn(3, 5, seed=2), randn(5, seed=3)
    loss = dino_loss([randn(3, 5, seed=4), s], [t], center, 0.2, 0.05)
    (grad,) = torch.autograd.grad(loss, s)
    expected = (torch.softmax(s / 0.2, dim=1) - torch.softmax((t - center) / 0.05, dim=1)) / 0.2 / 3
    torch.testing.assert_close(grad, expected)


def test_no_gradient_reaches_the_teacher_or_the_center():
    student = [randn(2, 4, seed=s).requires_grad_(True) for s in range(3)]
    teacher = [randn(2, 4, seed=10 + s).requires_grad_(True) for s in range(2)]
    center = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    loss = dino_loss(student, teacher, center, 0.1, 0.04)
    grads = torch.autograd.grad(loss, [*student, *teacher, center], allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[:3])
    assert all(g is None for g in grads[3:])


def _student_logits(probs, student_temp):
    """Logits whose softmax at ``student_temp`` is ``probs``."""
    return student_temp * torch.tensor([probs], dtype=torch.float64).log()


def test_centring_a_teacher_on_its_own_logits_makes_it_uniform():
    # c = t: P_t uniform over K = 4; P_s = (1, 1, 2, 4)/8, so H = −¼(2 log ⅛ + log ¼ + log ½) = 9/4 log 2.
    t = torch.tensor([[3.0, -1.0, 0.5, 2.0]], dtype=torch.float64)
    s = _student_logits([1 / 8, 1 / 8, 2 / 8, 4 / 8], 0.1)
    loss = dino_loss([s * 0 + 50, s], [t], t[0], 0.1, 0.04)  # student view 0 is the teacher's own: left out
    assert loss.item() == pytest.approx(9 / 4 * math.log(2))


@pytest.mark.parametrize("teacher_temp, p_t", [(1.0, 3 / 4), (0.5, 9 / 10), (0.25, 81 / 82)])
def test_sharpening_and_centring_by_hand(teacher_temp, p_t):
    # Centred logits (log 3, 0): P_t = (3^{1/τ}, 1) / (3^{1/τ} + 1); a lower τ_t is sharper.
    # With P_s = (¼, ¾): H = −P_t log ¼ − (1 − P_t) log ¾. The shift by 5 is removed by the centre.
    t = torch.tensor([[math.log(3) + 5, 5.0]], dtype=torch.float64)
    center = torch.tensor([5.0, 5.0], dtype=torch.float64)
    s = _student_logits([1 / 4, 3 / 4], 0.1)
    loss = dino_loss([torch.zeros_like(s), s], [t], center, 0.1, teacher_temp)
    assert loss.item() == pytest.approx(-p_t * math.log(1 / 4) - (1 - p_t) * math.log(3 / 4))


def test_bad_inputs_are_rejected():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="no pair"):
        dino_loss([x], [x], torch.zeros(3), 0.1, 0.04)
    with pytest.raises(ValueError, match="same"):
        dino_loss([x, torch.zeros(2, 4)], [x], torch.zeros(3), 0.1, 0.04)
    with pytest.raises(ValueError, match="center"):
        dino_loss([x, x], [x], torch.zeros(4), 0.1, 0.04)
    with pytest.raises(ValueError, match="list"):
        dino_loss(x, [x], torch.zeros(3), 0.1, 0.04)
    with pytest.raises(ValueError, match="update_center"):
        update_center(torch.zeros(4), [x], 0.9)


def test_update_center_is_an_ema_of_the_batch_mean():
    center = randn(5, seed=0)
    views = [randn(3, 5, seed=1), randn(3, 5, seed=2)]
    expected = 0.9 * center + 0.1 * torch.cat(views).mean(dim=0)
    torch.testing.assert_close(update_center(center, views, 0.9), expected)
    torch.testing.assert_close(update_center(center, torch.cat(views), 0.9), expected)
    torch.testing.assert_close(update_center(center, views, 0.0), torch.cat(views).mean(dim=0))
    assert torch.equal(update_center(center, views, 1.0), center)


def test_update_center_keeps_the_center_dtype_and_takes_no_gradient():
    center = torch.zeros(4, dtype=torch.bfloat16)
    t = torch.randn(6, 4, dtype=torch.bfloat16, requires_grad=True)
    new = update_center(center, t, 0.9)
    assert new.dtype == torch.bfloat16 and not new.requires_grad
