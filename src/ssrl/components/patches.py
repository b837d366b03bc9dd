"""Overlapping grids of patches: the inputs of the patch-based pretext tasks (CPC; relative
position and jigsaw cut their tiles the same way)."""

import torch


def grid_starts(side: int, grid: int, patch: int) -> torch.Tensor:
    """The ``grid`` start offsets of patches of ``patch`` px along a side of ``side`` px: evenly
    spread from 0 to side − patch (rounded), so the grid covers the whole side."""
    if not 1 <= patch <= side:
        raise ValueError(f"a patch of {patch} px does not fit a side of {side} px")
    if grid < 1:
        raise ValueError(f"grid must be at least 1, got {grid}")
    return torch.linspace(0, side - patch, grid).round().long()


def grid_patches(x: torch.Tensor, grid: int, patch: int) -> torch.Tensor:
    """The (B, grid, grid, C, patch, patch) patches of x (B, C, H, W): patch (i, j) starts at row
    ``grid_starts(H)[i]`` and column ``grid_starts(W)[j]``; neighbours overlap when
    grid · patch > side."""
    rows = grid_starts(x.shape[-2], grid, patch).to(x.device)[:, None] + torch.arange(patch, device=x.device)  # (g, p)
    cols = grid_starts(x.shape[-1], grid, patch).to(x.device)[:, None] + torch.arange(patch, device=x.device)
    tiles = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]       # (B, C, g, g, p, p)
    return tiles.permute(0, 2, 3, 1, 4, 5)
