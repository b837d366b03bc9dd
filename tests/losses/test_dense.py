"""The geometry heads' losses against their formulas, written again as plain loops in float64,
and their closed forms: a shifted log depth costs (1 − λ)·c², opposite normals cost 2, and
logits of 0 cost 2β(1 − β)·log 2 under HED's balancing."""

import math

import numpy as np
import pytest
import torch

from ssrl.losses.dense import balanced_contour_loss, cosine_normal_loss, log_l1_loss, scale_invariant_log_loss


def _maps(seed, b=3, h=5, w=4):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(b, 1, h, w, generator=g)
    depth = torch.rand(b, 1, h, w, generator=g) * 5 + 0.5
    valid = torch.rand(b, 1, h, w, generator=g) > 0.3
    return pred, depth, valid


def _by_loop(pred, depth, valid, per_pixel, reduce):
    """Mean over images of reduce(values at the valid pixels)."""
    out = []
    for p, d, v in zip(pred.double().numpy(), depth.double().numpy(), valid.numpy()):
        values = [per_pixel(p[0, i, j], d[0, i, j]) for i in range(p.shape[1]) for j in range(p.shape[2]) if v[0, i, j]]
        out.append(reduce(values) if values else 0.0)
    return float(np.mean(out))


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_scale_invariant_log_loss_is_eigens_equation(lam, seed):
    pred, depth, valid = _maps(seed)
    expected = _by_loop(pred, depth, valid, lambda p, d: p - math.log(d),
                        lambda d: sum(x * x for x in d) / len(d) - lam * sum(d) ** 2 / len(d) ** 2)
    assert scale_invariant_log_loss(pred, depth, valid, lam).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_a_global_scale_costs_one_minus_lambda_times_its_log_squared(lam):
    _, depth, valid = _maps(2)
    shifted = depth.log() + 0.7  # the same depths, 2.01× farther
    assert scale_invariant_log_loss(shifted, depth, valid, lam).item() == pytest.approx((1 - lam) * 0.49, abs=1e-5)


def test_log_l1_is_the_mean_absolute_log_error():
    pred, depth, valid = _maps(3)
    expected = _by_loop(pred, depth, valid, lambda p, d: abs(p - math.log(d)), lambda d: sum(d) / len(d))
    assert log_l1_loss(pred, depth, valid).item() == pytest.approx(expected, rel=1e-5)


def test_cosine_loss_is_one_minus_cosine_at_valid_pixels():
    g = torch.Generator().manual_seed(4)
    pred, normals = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    normals = normals / normals.norm(dim=1, keepdim=True)
    valid = torch.rand(2, 1, 4, 4, generator=g) > 0.4
    per_image = []
    for p, n, v in zip(pred.double().numpy(), normals.double().numpy(), valid.numpy()):
        costs = [1 - p[:, i, j] @ n[:, i, j] / np.linalg.norm(p[:, i, j]) for i in range(4) for j in range(4) if v[0, i, j]]
        per_image.append(np.mean(costs))
    assert cosine_normal_loss(pred, normals, valid).item() == pytest.approx(float(np.mean(per_image)), rel=1e-5)
    everywhere = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    assert cosine_normal_loss(3 * normals, normals, everywhere).item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_normal_loss(-normals, normals, everywhere).item() == pytest.approx(2.0, abs=1e-6)


def test_balanced_contour_loss_is_heds_equation_per_pixel():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 1, 6, 5, generator=g)
    contours = (torch.rand(3, 1, 6, 5, generator=g) < 0.2).float()
    per_image = []
    for a, y in zip(logits.double().numpy()[:, 0], contours.numpy()[:, 0]):
        beta = (y == 0).sum() / y.size
        sig = 1 / (1 + np.exp(-a))
        total = -beta * np.log(sig[y == 1]).sum() - (1 - beta) * np.log(1 - sig[y == 0]).sum()
        per_image.append(total / y.size)
    assert balanced_contour_loss(logits, contours).item() == pytest.approx(float(np.mean(per_image)), rel=1e-5)


def test_undecided_logits_cost_two_beta_one_minus_beta_log_two():
    contours = torch.zeros(1, 1, 4, 5)
    contours[0, 0, 1, :] = 1  # 5 of 20 pixels: β = 3/4
    expected = 2 * 0.75 * 0.25 * math.log(2)
    assert balanced_contour_loss(torch.zeros(1, 1, 4, 5), contours).item() == pytest.approx(expected, rel=1e-6)
    # the balancing makes both classes weigh the same in total: the loss is symmetric under swapping them
    assert balanced_contour_loss(torch.zeros(1, 1, 4, 5), 1 - contours).item() == pytest.approx(expected, rel=1e-6)


def test_losses_are_float32_from_bf16_predictions():
    pred, depth, valid = _maps(6)
    assert scale_invariant_log_loss(pred.bfloat16(), depth, valid).dtype == torch.float32
    assert balanced_contour_loss(pred.bfloat16(), (depth > 3).float()).dtype == torch.float32
