"""sRGB ↔ CIE Lab in torch, batched, for the colour pretext tasks (colorization, split-brain).

Lab separates lightness L (0 black … 100 white) from the two colour-opponent axes a (green −
… red +) and b (blue − … yellow +); a colour task's P splits an image into L and ab. The
conversion is the standard one (CIE 1976 L*a*b*, sRGB primaries, D65 white; the matrix and
white point scikit-image's ``rgb2lab`` uses, so values agree with it):

    sRGB → linear:  c ≤ 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055)^2.4
    linear → XYZ:   the sRGB matrix ``RGB_TO_XYZ``, then divided by the white point
    XYZ → Lab:      f(t) = t^(1/3) if t > (6/29)³ else t / (3 (6/29)²) + 4/29,
                    L = 116 f(Y) − 16,  a = 500 (f(X) − f(Y)),  b = 200 (f(Y) − f(Z))

and its exact inverse. Tensors are (..., 3, H, W) with the channels at dim −3, RGB in [0, 1].
``require_colour`` refuses grey data with the error the colour tasks share.
"""

import torch

from ssrl.errors import SsrlError

RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
              (0.212671, 0.715160, 0.072169),
              (0.019334, 0.119193, 0.950227))
WHITE_D65 = (0.95047, 1.0, 1.08883)
_DELTA = 6 / 29

# The ranges the colour tasks scale by (|a|, |b| of sRGB colours stay below 110).
L_RANGE = 100.0
AB_RANGE = 110.0


XYZ_TO_RGB = tuple(map(tuple, torch.linalg.inv(torch.tensor(RGB_TO_XYZ, dtype=torch.float64)).tolist()))


def _matrix(m, x: torch.Tensor) -> torch.Tensor:
    """3×3 ``m`` applied to the channel axis (dim −3) of x, as elementwise products and sums,
    which autocast leaves in x's precision (a bf16 matmul would move colours by whole Lab units)."""
    c = x.unbind(-3)
    return torch.stack([row[0] * c[0] + row[1] * c[1] + row[2] * c[2] for row in m], dim=-3)


def _white(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(WHITE_D65, dtype=x.dtype, device=x.device).view(3, 1, 1)


def srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (the 'gamma')."""
    return torch.where(c <= 0.04045, c / 12.92, ((c.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve to linear light in [0, 1]."""
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _DELTA**3, t.clamp_min(_DELTA**3) ** (1 / 3), t / (3 * _DELTA**2) + 4 / 29)


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _DELTA, t**3, 3 * _DELTA**2 * (t - 4 / 29))


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] → (..., 3, H, W) Lab: L in [0, 100], a and b within ±110."""
    xyz = _matrix(RGB_TO_XYZ, srgb_to_linear(rgb)) / _white(rgb)
    fx, fy, fz = _f(xyz).unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) Lab → sRGB, clipped to [0, 1] (colours outside the sRGB gamut are clipped,
    as scikit-image's ``lab2rgb`` does)."""
    l, a, b = lab.unbind(-3)
    fy = (l + 16) / 116
    fxyz = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = _f_inv(fxyz) * _white(lab)
    return linear_to_srgb(_matrix(XYZ_TO_RGB, xyz).clamp(0, 1)).clamp(0, 1)


def grey_rgb(l: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) lightness L → (B, 3, H, W) the sRGB grey of that lightness, R = G = B.

    This is how the colour tasks show L to a backbone built for RGB: the pixel values a grey
    photograph of the image would have, so a backbone trained on it takes ordinary RGB images
    at evaluation (a grey's Y is its linear value, L = 116 f(Y) − 16)."""
    grey = linear_to_srgb(_f_inv((l + 16) / 116).clamp(0, 1))
    return grey.expand(*l.shape[:-3], 3, *l.shape[-2:])


def split_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB (B, 3, H, W) → (L (B, 1, H, W) in Lab units, ab (B, 2, H, W) in Lab units)."""
    lab = rgb_to_lab(rgb)
    return lab[:, :1], lab[:, 1:]


def require_colour(channels: int | None, method: str) -> None:
    """Refuse anything but RGB data (``channels`` of the images or of h_θ's input; None: unknown)."""
    if channels is not None and channels != 3:
        raise SsrlError(f"{method} predicts colour from lightness, so it needs colour (RGB) images; "
                        f"these images have {channels} channel{'s' if channels != 1 else ''} (grayscale)")


__all__ = ["AB_RANGE", "L_RANGE", "grey_rgb", "lab_to_rgb", "linear_to_srgb", "require_colour", "rgb_to_lab",
           "split_lab", "srgb_to_linear"]
