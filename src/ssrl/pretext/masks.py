"""Masks, the shared piece of P for the masked-prediction methods.

Two kinds: index sets over a sequence of patches (MAE, He et al. 2022, arXiv:2111.06377: a
uniformly random subset of the patches of each image, without replacement), and pixel masks
of the image plane (context encoders, Pathak et al. 2016, arXiv:1604.07379: a central square,
random blocks, random regions). Pixel masks are (B, 1, H, W) booleans, True where pixels are
hidden; every one hides at least one pixel and leaves at least one visible.
"""

import math

import torch
import torch.nn.functional as F


def masked_count(num_patches: int, ratio: float) -> int:
    """|I|: round(ratio · num_patches), refused unless at least one patch is masked and one kept."""
    m = round(ratio * num_patches)
    if not 0 < m < num_patches:
        raise ValueError(f"a mask ratio of {ratio} of {num_patches} patches masks {m}; "
                         f"it must mask at least one patch and keep at least one")
    return m


def random_patch_mask(batch: int, num_patches: int, ratio: float, *, device=None,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, I: a uniformly random subset of round(ratio · num_patches) patch indices.

    Returns ``masked`` (B, m) and ``visible`` (B, num_patches − m), each row sorted, the two
    rows of an image together holding every index once. Drawn by ranking uniform noise, so
    every subset of size m is equally likely and the images of a batch are independent.
    """
    m = masked_count(num_patches, ratio)
    order = torch.rand(batch, num_patches, device=device, generator=generator).argsort(dim=1)
    return order[:, :m].sort(dim=1).values, order[:, m:].sort(dim=1).values


def _side(size: int, fraction: float) -> int:
    """round(fraction · size) px, kept within 1 .. size − 1 so a square never vanishes or fills the side."""
    return min(max(round(fraction * size), 1), max(size - 1, 1))


def _check_area(area: float) -> None:
    if not 0 < area < 1:
        raise ValueError(f"the masked area is a fraction of the image in (0, 1), got {area}")


def central_square_mask(batch: int, height: int, width: int, area: float = 0.25, *, device=None,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """The same centred rectangle in every image, sides √area of the image's (the paper: the
    central 64 × 64 of 128 × 128, a quarter of the area). ``generator`` is unused (no randomness)."""
    _check_area(area)
    h, w = _side(height, math.sqrt(area)), _side(width, math.sqrt(area))
    top, left = (height - h) // 2, (width - w) // 2
    mask = torch.zeros(batch, 1, height, width, dtype=torch.bool, device=device)
    mask[..., top:top + h, left:left + w] = True
    return mask


def random_block_mask(batch: int, height: int, width: int, area: float = 0.25, *, block: float = 0.25,
                      device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Possibly overlapping squares at uniformly random places, each of sides ``block`` of the
    image's, as many as fit in ``area`` if none overlapped: their union covers at most ``area``
    (the paper: "a number of smaller possibly overlapping masks, covering up to 1/4 of the image")."""
    _check_area(area)
    h, w = _side(height, block), _side(width, block)
    n = math.floor(area * height * width / (h * w))
    if n < 1:
        raise ValueError(f"a block of {h}×{w} px is larger than the masked area {area} of a {height}×{width} image; "
                         f"make the block smaller")
    top = (torch.rand(batch, n, 1, device=device, generator=generator) * (height - h + 1)).long()
    left = (torch.rand(batch, n, 1, device=device, generator=generator) * (width - w + 1)).long()
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    in_rows = (rows >= top) & (rows < top + h)                       # (B, n, H)
    in_cols = (cols >= left) & (cols < left + w)                     # (B, n, W)
    return (in_rows[..., :, None] & in_cols[..., None, :]).any(dim=1, keepdim=True)


def random_region_mask(batch: int, height: int, width: int, area: float = 0.25, *, cells: int = 8,
                       device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Irregular blobs: uniform noise on a ``cells`` × ``cells`` grid, upsampled bicubically to
    the image, and the fraction ``area`` of its pixels with the lowest values hidden.

    The paper pastes deformed PASCAL VOC segment shapes; its released code thresholds
    bicubically upsampled noise instead, at about 8 noise cells per image side, keeping masks of
    20–30% of the area. We take the exact quantile per image, so every mask hides exactly
    round(area · H · W) pixels.
    """
    _check_area(area)
    if cells < 2:
        raise ValueError(f"a region mask needs at least 2 noise cells a side, got {cells}")
    noise = torch.rand(batch, 1, cells, cells, device=device, generator=generator)
    smooth = F.interpolate(noise, size=(height, width), mode="bicubic", align_corners=False).flatten(1)
    k = min(max(round(area * height * width), 1), height * width - 1)
    hidden = smooth.topk(k, dim=1, largest=False).indices
    mask = torch.zeros_like(smooth, dtype=torch.bool).scatter_(1, hidden, True)
    return mask.view(batch, 1, height, width)


PIXEL_MASKS = {"central": central_square_mask, "block": random_block_mask, "region": random_region_mask}

__all__ = ["PIXEL_MASKS", "central_square_mask", "masked_count", "random_block_mask", "random_patch_mask",
           "random_region_mask"]
