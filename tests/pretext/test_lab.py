"""sRGB ↔ Lab: known colours (scikit-image is not installed here, so the reference values are
the standard D65 ones, and grey is worked out by hand), round trips, clipping, grey_rgb."""

import math

import torch

from ssrl.pretext.lab import grey_rgb, lab_to_rgb, rgb_to_lab, split_lab

# sRGB colour → CIE Lab (D65), the published values of the standard conversion.
KNOWN = {
    (1.0, 0.0, 0.0): (53.2408, 80.0925, 67.2032),
    (0.0, 1.0, 0.0): (87.7347, -86.1827, 83.1793),
    (0.0, 0.0, 1.0): (32.2970, 79.1875, -107.8602),
    (1.0, 1.0, 1.0): (100.0, 0.0, 0.0),
    (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
}


def _pixels(colours) -> torch.Tensor:
    """A (1, 3, n, 1) image whose n pixels are the given colours."""
    return torch.tensor(colours, dtype=torch.float64).T.reshape(1, 3, len(colours), 1)


def test_known_colours():
    lab = rgb_to_lab(_pixels(list(KNOWN)))[0, :, :, 0].T
    torch.testing.assert_close(lab, torch.tensor(list(KNOWN.values()), dtype=torch.float64), atol=0.02, rtol=0)


def test_mid_grey_by_hand():
    # linear light of 0.5: ((0.5 + 0.055) / 1.055)^2.4; a grey's Y is that, L = 116 Y^(1/3) − 16
    y = ((0.5 + 0.055) / 1.055) ** 2.4
    l_by_hand = 116 * y ** (1 / 3) - 16
    assert math.isclose(l_by_hand, 53.389, abs_tol=1e-3)
    lab = rgb_to_lab(torch.full((1, 3, 1, 1), 0.5, dtype=torch.float64)).flatten()
    torch.testing.assert_close(lab, torch.tensor([l_by_hand, 0.0, 0.0], dtype=torch.float64), atol=0.01, rtol=0)
    # below the linear segment of the curve: 0.02 → 0.02 / 12.92, and f(t) = t / (3 (6/29)²) + 4/29
    y = 0.02 / 12.92
    l_dark = 116 * (y / (3 * (6 / 29) ** 2) + 4 / 29) - 16
    dark = rgb_to_lab(torch.full((1, 3, 1, 1), 0.02, dtype=torch.float64))
    assert math.isclose(dark[0, 0].item(), l_dark, abs_tol=0.01)


def test_round_trip():
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-9, rtol=0)
    x32 = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(x32)), x32, atol=1e-4, rtol=0)


def test_out_of_gamut_colours_are_clipped():
    rgb = lab_to_rgb(torch.tensor([50.0, 120.0, -120.0]).view(1, 3, 1, 1))
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_grey_rgb_has_the_lightness_and_no_colour():
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    l, ab = split_lab(x)
    assert l.shape == (2, 1, 6, 6) and ab.shape == (2, 2, 6, 6)
    grey = grey_rgb(l)
    assert grey.shape == (2, 3, 6, 6)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    lab = rgb_to_lab(grey)
    torch.testing.assert_close(lab[:, :1], l, atol=1e-6, rtol=0)
    assert lab[:, 1:].abs().max() < 0.01  # grey: a = b = 0 (to the rounding of the sRGB matrix)
