"""Per-sample colour ops: colour jitter, random grayscale, solarization.

Each sample draws its own factors; samples an op skips get the exact identity factors
(1, 0 or the identity matrix), so one batched code path serves the whole batch and a
skipped sample comes out bit-for-bit unchanged. Factors are drawn in float32 and cast to
the image dtype when applied.
"""

import math

import torch

from ssrl.views._common import check_images, coin, per_sample, uniform

# ITU-R BT.601 luma weights, the ones torchvision's rgb_to_grayscale uses.
LUMA = (0.299, 0.587, 0.114)

# RGB -> YIQ (NTSC): Y is luma, (I, Q) the chroma plane; rotating (I, Q) turns the hue.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
_YIQ_INV = torch.linalg.inv(_YIQ)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W) luma; a 1-channel batch is its own grayscale."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """f x + (1 - f) other, clamped to [0, 1]; written so that f == 1 gives x exactly."""
    return (x * f + other * (1 - f)).clamp_(0, 1)


def _factors(strength: float, on: torch.Tensor) -> torch.Tensor:
    """(B,) multiplicative factors U[max(0, 1 - s), 1 + s] where ``on``, exactly 1 elsewhere."""
    f = uniform(max(0.0, 1 - strength), 1 + strength, on.shape, on.device)
    return torch.where(on, f, 1.0)


def saturation_matrices(f: torch.Tensor) -> torch.Tensor:
    """(B,) factors -> (B, 3, 3) RGB matrices of f x + (1 - f) luma(x): one product per sample.

    Factor 1 gives the identity matrix exactly.
    """
    luma = torch.tensor(LUMA, device=f.device).expand(3, 3)  # every row: the luma weights
    f = f[:, None, None]
    return f * torch.eye(3, device=f.device) + (1 - f) * luma


def hue_matrices(angle: torch.Tensor) -> torch.Tensor:
    """(B,) angles in turns -> (B, 3, 3) RGB matrices rotating the hue via the YIQ chroma plane.

    An approximation of torchvision's HSV hue shift that is one matrix product per sample.
    Angle 0 gives the identity matrix exactly (not merely to rounding).
    """
    cos, sin = torch.cos(2 * math.pi * angle), torch.sin(2 * math.pi * angle)
    rot = torch.zeros(angle.shape[0], 3, 3, device=angle.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
    rot[:, 2, 1], rot[:, 2, 2] = sin, cos
    m = _YIQ_INV.to(angle.device, torch.float32) @ rot @ _YIQ.to(angle.device, torch.float32)
    eye = torch.eye(3, device=angle.device).expand_as(m)
    return torch.where((angle == 0)[:, None, None], eye, m)


def _apply_matrices(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) images, (B, 3, 3) per-sample colour matrices -> m @ pixel, in x's layout."""
    if x.is_contiguous():
        return torch.bmm(m, x.flatten(2)).view_as(x)
    # channels_last: pixels as rows (B, H*W, 3) times m^T, so the product keeps the layout.
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    return torch.bmm(rows, m.transpose(1, 2)).view(b, h, w, c).permute(0, 3, 1, 2)


def color_jitter(
    x: torch.Tensor,
    p: float,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
) -> torch.Tensor:
    """With probability ``p`` per sample, jitter brightness, contrast, saturation and hue.

    Factors follow torchvision's ColorJitter: brightness, contrast and saturation factors are
    U[max(0, 1 - s), 1 + s], the hue shift U[-hue, hue] of a full turn. Brightness multiplies;
    contrast blends with the image's mean luma; saturation blends with the per-pixel luma; hue
    rotates the YIQ chroma plane. Each step clamps to [0, 1], as torchvision does.

    The order is fixed (brightness, contrast, saturation, hue) where torchvision draws a random
    order per call: a per-sample random order would need one pass per permutation (24), while
    a fixed order keeps every sample on one batched path. The default strengths are SimCLR's
    ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s) at s = 0.5, its CIFAR-10 setting (Chen et al. 2020,
    arXiv:2002.05709, appendices A and B.9).

    Args:
        x: (B, C, H, W) float images in [0, 1], C = 1 or 3 (saturation and hue need 3; they
            are skipped for 1 channel).
    Returns:
        (B, C, H, W), same dtype.
    """
    check_images(x, "color_jitter", channels=(1, 3))
    rgb = x.shape[1] == 3
    if p <= 0 or not (brightness or contrast or (rgb and (saturation or hue))):
        return x
    on = coin(p, x.shape[0], x.device)
    if brightness:
        x = (x * per_sample(_factors(brightness, on)).to(x.dtype)).clamp_(0, 1)
    if contrast:
        mean = grayscale(x.mean(dim=(2, 3), keepdim=True))  # (B, 1, 1, 1): mean luma = luma of mean
        x = _blend(x, mean, per_sample(_factors(contrast, on)).to(x.dtype))
    if rgb and saturation:
        x = _apply_matrices(x, saturation_matrices(_factors(saturation, on)).to(x.dtype)).clamp_(0, 1)
    if rgb and hue:
        angle = torch.where(on, uniform(-hue, hue, on.shape, x.device), 0.0)
        x = _apply_matrices(x, hue_matrices(angle).to(x.dtype)).clamp_(0, 1)
    return x


def random_grayscale(x: torch.Tensor, p: float) -> torch.Tensor:
    """With probability ``p`` per sample, replace every channel by the luma (C stays 3).

    A 1-channel batch is returned as is.
    """
    check_images(x, "random_grayscale", channels=(1, 3))
    if p <= 0 or x.shape[1] == 1:
        return x
    on = coin(p, x.shape[0], x.device)
    return torch.where(per_sample(on), grayscale(x), x)


def solarize(x: torch.Tensor, p: float, threshold: float = 0.5) -> torch.Tensor:
    """With probability ``p`` per sample, invert (v -> 1 - v) every value >= ``threshold``.

    Solarization as BYOL's view pipeline uses it (Grill et al. 2020, arXiv:2006.07733).
    """
    check_images(x, "solarize")
    if p <= 0:
        return x
    on = coin(p, x.shape[0], x.device)
    return torch.where(per_sample(on) & (x >= threshold), 1 - x, x)
