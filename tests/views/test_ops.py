"""Colour ops, grayscale, blur and solarize, against closed forms and torchvision."""

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from ssrl.views import color_jitter, gaussian_blur, grayscale, random_grayscale, solarize
from ssrl.views.color import _apply_matrices, hue_matrices, saturation_matrices


def test_grayscale_matches_torchvision():
    x = torch.rand(4, 3, 16, 16)
    assert torch.allclose(grayscale(x), TF.rgb_to_grayscale(x), atol=1e-3)


def test_random_grayscale_gives_equal_channels():
    x = torch.rand(32, 3, 8, 8)
    y = random_grayscale(x, 1.0)
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 1], y[:, 2])
    torch.manual_seed(0)
    y = random_grayscale(x, 0.5)
    gray = (y[:, 0] == y[:, 1]).all(dim=(1, 2)) & (y[:, 1] == y[:, 2]).all(dim=(1, 2))
    assert torch.equal(y[~gray], x[~gray]) and 4 < gray.sum() < 28


def test_one_channel_grayscale_is_a_no_op():
    x = torch.rand(4, 1, 8, 8)
    assert random_grayscale(x, 1.0) is x


def test_solarize_inverts_values_above_threshold():
    x = torch.rand(8, 3, 8, 8)
    y = solarize(x, 1.0)
    assert torch.equal(y, torch.where(x >= 0.5, 1 - x, x))
    assert torch.equal(solarize(x, 0.0), x)


@pytest.mark.parametrize("c", [1, 3])
def test_blur_keeps_a_constant_image(c):
    x = torch.full((6, c, 20, 20), 0.3)
    assert torch.allclose(gaussian_blur(x, 1.0, (0.1, 2.0)), x, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.5, 1.5])
def test_blur_matches_torchvision_at_fixed_sigma(sigma):
    x = torch.rand(4, 3, 24, 24)
    y = gaussian_blur(x, 1.0, (sigma, sigma), kernel_size=7)
    expected = TF.gaussian_blur(x, kernel_size=[7, 7], sigma=[sigma, sigma])
    assert torch.allclose(y, expected, atol=1e-5)


def test_blur_varies_per_sample_and_skips_exactly():
    x = torch.rand(1, 1, 24, 24).expand(32, -1, -1, -1).contiguous()
    torch.manual_seed(0)
    y = gaussian_blur(x, 0.5, (1.0, 2.0))  # sigma 0.1 is nearly the identity: not testable
    unchanged = (y == x).flatten(1).all(dim=1)
    assert 4 < unchanged.sum() < 28
    blurred = y[~unchanged].flatten(1)
    assert torch.cdist(blurred, blurred).fill_diagonal_(1).min() > 1e-4  # each its own sigma
    assert blurred.std(dim=1).max() < x.std()


def test_jitter_off_returns_input_and_skipped_samples_are_exact():
    x = torch.rand(64, 3, 8, 8)
    assert color_jitter(x, 0.0) is x
    torch.manual_seed(0)
    y = color_jitter(x, 0.5)
    unchanged = (y == x).flatten(1).all(dim=1)
    assert 16 < unchanged.sum() < 48


def test_brightness_scales_each_sample():
    x = torch.rand(16, 3, 8, 8) * 0.5  # room to brighten without clamping
    y = color_jitter(x, 1.0, brightness=0.5, contrast=0, saturation=0, hue=0)
    factor = y / x
    per_sample = factor.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4)
    assert per_sample.min() >= 0.5 - 1e-4 and per_sample.max() <= 1.5 + 1e-4
    assert per_sample[:, 0].std() > 0.05  # each sample its own factor


def test_contrast_keeps_mean_luma():
    x = 0.25 + 0.5 * torch.rand(16, 3, 8, 8)  # mid-range, so no clamping at strength 0.4
    y = color_jitter(x, 1.0, brightness=0, contrast=0.4, saturation=0, hue=0)
    assert torch.allclose(grayscale(y).mean(dim=(1, 2, 3)), grayscale(x).mean(dim=(1, 2, 3)), atol=1e-5)
    assert not torch.allclose(y, x)


def test_saturation_zero_is_grayscale_and_one_is_identity():
    x = torch.rand(2, 3, 8, 8)
    gray = _apply_matrices(x, saturation_matrices(torch.zeros(2)))
    assert torch.allclose(gray, grayscale(x).expand_as(x), atol=1e-6)
    assert torch.equal(saturation_matrices(torch.ones(1))[0], torch.eye(3))


def test_hue_rotation_keeps_luma_and_grays():
    angle = torch.tensor([0.0, 0.1, -0.25, 0.5])
    m = hue_matrices(angle)
    assert torch.equal(m[0], torch.eye(3))
    x = torch.rand(4, 3, 8, 8)
    y = _apply_matrices(x, m)
    assert torch.allclose(grayscale(y), grayscale(x), atol=1e-5)  # a rotation of chroma only
    g = torch.rand(4, 1, 8, 8).expand(-1, 3, -1, -1).contiguous()
    assert torch.allclose(_apply_matrices(g, m), g, atol=1e-5)
    assert torch.allclose(hue_matrices(torch.tensor([1.0]))[0], torch.eye(3), atol=1e-5)  # a full turn


def test_one_channel_jitter_ignores_saturation_and_hue():
    x = torch.rand(8, 1, 8, 8)
    assert color_jitter(x, 1.0, brightness=0, contrast=0, saturation=0.4, hue=0.1) is x
    assert color_jitter(x, 1.0).shape == x.shape


@pytest.mark.parametrize("op", [lambda x: color_jitter(x, 1.0), lambda x: random_grayscale(x, 1.0)])
def test_colour_ops_reject_other_channel_counts(op):
    with pytest.raises(ValueError, match="channels"):
        op(torch.rand(2, 4, 8, 8))
