"""Per-sample Gaussian blur as two grouped 1-D convolutions (one kernel per sample)."""

import math

import torch
import torch.nn.functional as F

from ssrl.views._common import check_images, coin, per_sample, uniform


def gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """(B,) sigmas -> (B, 2 radius + 1) normalised 1-D Gaussian kernels (float32)."""
    t = torch.arange(-radius, radius + 1, device=sigma.device, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma[:, None] ** 2))
    return k / k.sum(dim=1, keepdim=True)


def gaussian_blur(
    x: torch.Tensor,
    p: float,
    sigma_range: tuple[float, float] = (0.1, 2.0),
    kernel_size: int | None = None,
) -> torch.Tensor:
    """With probability ``p`` per sample, blur with a Gaussian of sigma ~ U(sigma_range).

    The blur is separable: a vertical then a horizontal 1-D convolution, each one grouped
    convolution over the batch folded into channels (B*C groups), so every sample has its own
    kernel. Borders are reflected, as in torchvision's gaussian_blur, so a constant image
    stays constant. SimCLR (Chen et al. 2020, arXiv:2002.05709) blurs half the ImageNet views
    with sigma in [0.1, 2.0] and a kernel 10% of the image side; here the kernel instead
    covers +-3 sigma_max by default (``kernel_size`` overrides), which small images need, and
    is capped so the reflection padding fits inside the image.

    Args:
        x: (B, C, H, W) float images.
    Returns:
        (B, C, H, W), same dtype; samples not drawn come out unchanged.
    """
    check_images(x, "gaussian_blur")
    if p <= 0:
        return x
    b, c, height, width = x.shape
    radius = kernel_size // 2 if kernel_size is not None else math.ceil(3 * sigma_range[1])
    radius = min(radius, height - 1, width - 1)
    on = coin(p, b, x.device)
    if radius <= 0:
        return x
    k = gaussian_kernels(uniform(sigma_range[0], sigma_range[1], (b,), x.device), radius)
    k = k.to(x.dtype).repeat_interleave(c, dim=0)  # (B*C, K): each channel its sample's kernel
    size = 2 * radius + 1
    y = F.pad(x.reshape(1, b * c, height, width), (radius,) * 4, mode="reflect")
    y = F.conv2d(y, k.view(b * c, 1, size, 1), groups=b * c)  # vertical
    y = F.conv2d(y, k.view(b * c, 1, 1, size), groups=b * c)  # horizontal
    # A delta kernel is not bit-exact through conv2d, so skipped samples are selected back.
    out = torch.where(per_sample(on), y.view(b, c, height, width), x)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out
