"""Random resized crop + horizontal flip for a whole batch in one resampling pass.

Each sample gets its own crop box and flip; the box and flip become a per-sample affine map
``theta`` (B, 2, 3), and a single ``F.grid_sample`` call crops, resizes and flips every image
at once (bilinear, align_corners=False) with no Python loop over samples. The sampling grid is
the one ``F.affine_grid(theta)`` gives, built by broadcasting because it is faster (see
``axis_aligned_grid``).
"""

import math

import torch
import torch.nn.functional as F

from ssrl.views._common import check_images, coin, uniform

ATTEMPTS = 10  # boxes tried per sample before the fallback, as torchvision's RandomResizedCrop


def sample_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Draw ``n`` crop boxes inside a height x width image, the RandomResizedCrop way.

    Like torchvision's RandomResizedCrop (after Szegedy et al. 2015, arXiv:1409.4842): the box
    area is a fraction U(scale) of the image area and its aspect ratio w/h is log-uniform in
    ``ratio``; a draw that does not fit is redrawn (ATTEMPTS draws per sample, all made at once;
    the first that fits wins), and a sample with none that fits gets the centred box of the
    whole image with its aspect ratio clamped into ``ratio``. Unlike torchvision, sizes and
    offsets are not rounded to whole pixels: ``grid_sample`` takes sub-pixel boxes as they are.

    Returns:
        (n, 4) float32 boxes ``(x0, y0, w, h)`` in pixels, with 0 <= x0, x0 + w <= width,
        0 <= y0 and y0 + h <= height.
    """
    shape = (n, ATTEMPTS)
    area = height * width * uniform(scale[0], scale[1], shape, device)  # (n, A)
    aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1]), shape, device))
    w = torch.sqrt(area * aspect)
    h = torch.sqrt(area / aspect)
    fits = (w <= width) & (h <= height)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first box that fits
    found = fits.any(dim=1)  # (n,)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)

    # Fallback: the whole image, its aspect ratio clamped into the allowed range, centred.
    image_ratio = width / height
    if image_ratio < ratio[0]:
        fw, fh = width, width / ratio[0]
    elif image_ratio > ratio[1]:
        fw, fh = height * ratio[1], height
    else:
        fw, fh = width, height
    w = torch.where(found, w, fw).clamp_(max=width)
    h = torch.where(found, h, fh).clamp_(max=height)
    position = torch.where(found[:, None], torch.rand(n, 2, device=device), 0.5)
    x0 = position[:, 0] * (width - w)
    y0 = position[:, 1] * (height - h)
    return torch.stack([x0, y0, w, h], dim=1)


def boxes_to_theta(boxes: torch.Tensor, height: int, width: int, flip: torch.Tensor) -> torch.Tensor:
    """(n, 4) pixel boxes + (n,) bool flips -> (n, 2, 3) affine maps for ``F.affine_grid``.

    With align_corners=False, normalised coordinates -1 and 1 are the outer edges of the
    image, so a box from pixel edge x0 to x0 + w spans [2 x0 / W - 1, 2 (x0 + w) / W - 1]:
    its centre is the translation and its half-extent (w / W) the scale. A flip negates the
    x scale, mirroring the box about its own centre.
    """
    x0, y0, w, h = boxes.unbind(1)
    theta = boxes.new_zeros(boxes.shape[0], 2, 3)
    theta[:, 0, 0] = torch.where(flip, -w / width, w / width)
    theta[:, 0, 2] = (2 * x0 + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * y0 + h) / height - 1
    return theta


def axis_aligned_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """``F.affine_grid(theta, (B, C, size, size), align_corners=False)`` for theta without shear.

    Crop + flip maps have theta[:, 0, 1] == theta[:, 1, 0] == 0, so each grid coordinate is an
    affine function of one output axis: two (B, S) vectors broadcast into the (B, S, S, 2) grid.
    Same values as affine_grid (to float rounding), and faster on CPU, where affine_grid runs a
    skinny batched matmul that costs more than the grid_sample itself (BENCHMARKS.md, "Views").
    """
    base = (2 * torch.arange(size, device=theta.device, dtype=theta.dtype) + 1) / size - 1  # pixel centres
    gx = theta[:, 0, 0, None] * base + theta[:, 0, 2, None]  # (B, S) source x per output column
    gy = theta[:, 1, 1, None] * base + theta[:, 1, 2, None]  # (B, S) source y per output row
    b = theta.shape[0]
    return torch.stack([gx[:, None, :].expand(b, size, size), gy[:, :, None].expand(b, size, size)], dim=-1)


def random_resized_crop(
    x: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip_p: float = 0.0,
) -> torch.Tensor:
    """Crop a random box of each image, resize it to size x size and flip it with prob. ``hflip_p``.

    Args:
        x: (B, C, H, W) float images.
        size: output side S.
        scale: range of the box area as a fraction of the image area.
        ratio: range of the box aspect ratio w / h (sampled log-uniformly).
        hflip_p: probability that a sample is mirrored left-right.

    Returns:
        (B, C, S, S), same dtype as ``x`` (resampled in float32 when ``x`` is bf16/fp16 so the
        sampling grid keeps full precision), channels_last if ``x`` was.

    With scale (1, 1), ratio (1, 1), hflip_p 0 and S == H == W this returns ``x`` itself; with
    scale (1, 1) and ratio (1, 1) a non-square image is cut to its centred square.
    """
    check_images(x, "random_resized_crop")
    b, _, height, width = x.shape
    if tuple(scale) == (1, 1) and tuple(ratio) == (1, 1) and hflip_p <= 0 and height == width == size:
        return x
    boxes = sample_boxes(b, height, width, scale, ratio, x.device)
    flip = coin(hflip_p, b, x.device)
    src = x if x.dtype in (torch.float32, torch.float64) else x.float()
    theta = boxes_to_theta(boxes, height, width, flip).to(src.dtype)
    grid = axis_aligned_grid(theta, size)  # (B, S, S, 2), what F.affine_grid would give
    # 'border' padding: a point within half a pixel of the image edge has bilinear taps outside
    # the image; repeating the edge pixel there (as F.interpolate does) avoids fading to zero.
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out.to(x.dtype)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out
