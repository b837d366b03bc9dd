"""random_resized_crop, sample_boxes and the sampling grid."""

import pytest
import torch
import torch.nn.functional as F

from ssrl.views import random_resized_crop, sample_boxes
from ssrl.views.crop import axis_aligned_grid, boxes_to_theta

FULL = {"scale": (1.0, 1.0), "ratio": (1.0, 1.0)}


@pytest.mark.parametrize("c", [1, 3])
def test_flip_of_whole_image_is_flip(c):
    x = torch.rand(6, c, 28, 28)
    y = random_resized_crop(x, 28, hflip_p=1.0, **FULL)
    assert torch.allclose(y, x.flip(-1), atol=1e-5)


def test_each_sample_is_flipped_or_not():
    x = torch.rand(64, 3, 16, 16)
    torch.manual_seed(0)
    y = random_resized_crop(x, 16, hflip_p=0.5, **FULL)
    same = (y - x).abs().amax(dim=(1, 2, 3)) < 1e-5
    flipped = (y - x.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert torch.all(same | flipped)
    assert 10 < flipped.sum() < 54


@pytest.mark.parametrize("size", [16, 20, 28, 48])
def test_whole_box_is_a_plain_resize(size):
    x = torch.rand(4, 3, 28, 28)
    y = random_resized_crop(x, size, hflip_p=0.0, **FULL)
    expected = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    assert torch.allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize("height,width", [(28, 28), (32, 48), (40, 24)])
@pytest.mark.parametrize(
    "scale,ratio", [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.2, 1.0), (0.5, 2.0)), ((0.9, 1.0), (3.0, 4.0))]
)
def test_boxes_lie_inside_the_image(height, width, scale, ratio):
    torch.manual_seed(0)
    x0, y0, w, h = sample_boxes(4096, height, width, scale, ratio).unbind(1)
    eps = 1e-4
    assert torch.all(x0 >= 0) and torch.all(y0 >= 0) and torch.all(w > 0) and torch.all(h > 0)
    assert torch.all(x0 + w <= width + eps) and torch.all(y0 + h <= height + eps)


def test_boxes_follow_scale_and_ratio():
    torch.manual_seed(0)
    scale, ratio = (0.2, 1.0), (3 / 4, 4 / 3)
    _, _, w, h = sample_boxes(8192, 32, 32, scale, ratio).unbind(1)
    area, aspect = w * h / 32**2, w / h
    assert area.min() >= scale[0] - 1e-5 and area.max() <= scale[1] + 1e-5
    assert aspect.min() >= ratio[0] - 1e-5 and aspect.max() <= ratio[1] + 1e-5
    # The log-ratio is uniform: its mean sits mid-range (the redraws barely skew it).
    assert abs(torch.log(aspect).mean()) < 0.02
    assert area.mean() > 0.5  # boxes that fit are kept, so areas are not all small


def test_fallback_is_centred_whole_image_clamped_to_ratio():
    x0, y0, w, h = sample_boxes(8, 20, 60, (1.0, 1.0), (1.0, 2.0)).unbind(1)
    assert torch.allclose(w, torch.full_like(w, 40.0)) and torch.allclose(h, torch.full_like(h, 20.0))
    assert torch.allclose(x0, torch.full_like(x0, 10.0)) and torch.allclose(y0, torch.zeros_like(y0))


def test_grid_matches_affine_grid():
    torch.manual_seed(0)
    boxes = sample_boxes(32, 30, 30, (0.08, 1.0), (3 / 4, 4 / 3))
    theta = boxes_to_theta(boxes, 30, 30, torch.rand(32) < 0.5)
    for size in (7, 30, 64):
        expected = F.affine_grid(theta, [32, 1, size, size], align_corners=False)
        assert torch.allclose(axis_aligned_grid(theta, size), expected, atol=1e-6)


def test_crop_shows_the_box_contents():
    """A view of an image whose pixel values are their own x coordinates spans the box."""
    width = 64
    x = torch.arange(width, dtype=torch.float32).add(0.5).expand(1, 1, width, width).repeat(8, 1, 1, 1)
    torch.manual_seed(5)
    y = random_resized_crop(x, 16, scale=(0.1, 0.5), ratio=(1.0, 1.0))
    torch.manual_seed(5)
    x0, _, w, _ = sample_boxes(8, width, width, (0.1, 0.5), (1.0, 1.0)).unbind(1)
    # Output column j samples the box at x0 + (j + 0.5) w / 16.
    expected = x0[:, None] + (torch.arange(16) + 0.5) * w[:, None] / 16
    assert torch.allclose(y[:, 0, 0, :], expected, atol=1e-3)
