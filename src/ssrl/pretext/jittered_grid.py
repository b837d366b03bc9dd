"""A grid of patches at per-sample jittered positions: the shared piece of P for relative
position (Doersch et al. 2015) and jigsaw (Noroozi & Favaro 2016).

Both papers cut a 3×3 grid of patches with room between them and move every patch at random
within that room, so that a network cannot tell where a patch belongs by continuing lines
across its border or by a fixed alignment; the room is what ``slack`` describes here. Unlike
``ssrl.components.patches.grid_patches`` (one fixed grid for the whole batch), every sample and
every patch gets its own position, drawn from the device's global torch generator.
"""

import torch
import torch.nn.functional as F


def zoomed(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """x (B, C, H, W) upsampled bilinearly by ``zoom`` (≥ 1; 1 returns x): both papers cut their
    grids from images of hundreds of pixels, so that a patch holds parts of objects, not a few
    pixels, and h_θ's deeper layers see more than a 1 × 1 map."""
    if zoom < 1:
        raise ValueError(f"zoom upsamples the image before the grid is cut; it must be ≥ 1, got {zoom}")
    return x if zoom == 1 else F.interpolate(x, scale_factor=zoom, mode="bilinear", align_corners=False)


def jittered_starts(n: int, side: int, grid: int, patch: int, pitch: int, slack: int,
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners of ``grid`` × ``grid`` patches of ``patch`` px in each of ``n`` images
    of ``side`` × ``side`` px.

    Patch (i, j) of a sample starts at row ``origin_r + i · pitch + u`` and column
    ``origin_c + j · pitch + v``, with u and v uniform in 0..slack, drawn per patch, and the
    origins uniform in 0..side − span per sample, span = (grid − 1) · pitch + patch + slack the
    extent of the grid: every patch lies inside the image, and the free border moves the whole
    grid too. Neighbouring patches are ``pitch − patch`` px apart before the jitter, between
    ``pitch − patch − slack`` and ``pitch − patch + slack`` after it.

    Returns:
        rows, cols: (n, grid · grid) long, patch (i, j) at index i · grid + j.
    """
    span = (grid - 1) * pitch + patch + slack
    if patch < 1 or slack < 0 or pitch < 1:
        raise ValueError(f"patch and pitch must be positive and slack non-negative, got {patch}, {pitch}, {slack}")
    if span > side:
        raise ValueError(f"a {grid}×{grid} grid of {patch} px patches at pitch {pitch} with {slack} px of jitter "
                         f"spans {span} px, more than the image's {side}")
    steps = torch.arange(grid, device=device) * pitch

    def axis(offsets: torch.Tensor) -> torch.Tensor:
        origin = torch.randint(side - span + 1, (n, 1, 1), device=device)
        return (origin + offsets + torch.randint(slack + 1, (n, grid, grid), device=device)).flatten(1)

    return axis(steps[:, None]), axis(steps[None, :])


def cut_patches(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """The (B, K, C, size, size) patches of x (B, C, H, W) whose top-left corners are
    ``rows``, ``cols`` (B, K); corners must leave the patch inside the image."""
    span = torch.arange(size, device=x.device)
    r = (rows[..., None] + span)[..., :, None]                       # (B, K, size, 1)
    c = (cols[..., None] + span)[..., None, :]                       # (B, K, 1, size)
    b = torch.arange(x.shape[0], device=x.device)[:, None, None, None]
    return x.permute(0, 2, 3, 1)[b, r, c].permute(0, 1, 4, 2, 3)    # (B, K, s, s, C) -> (B, K, C, s, s)


__all__ = ["cut_patches", "jittered_starts", "zoomed"]
