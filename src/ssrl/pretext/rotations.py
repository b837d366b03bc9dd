"""Rotations of an image batch, the shared piece of P for rotation prediction."""

import torch


def rotate_all(x: torch.Tensor, num_rotations: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of x (B, C, H, W) rotated by k·90° for k = 0..num_rotations-1.

    Returns inputs (R·B, C, H, W), rotation k of image i at row k·B + i, and the
    pseudolabels z (R·B,) holding k. Square images only: rotating a non-square image
    changes its shape, which would itself give the answer away.
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotate_all needs square images, got {tuple(x.shape[-2:])}")
    if not 1 <= num_rotations <= 4:
        raise ValueError(f"num_rotations must be 1..4, got {num_rotations}")
    inputs = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(num_rotations)])
    z = torch.arange(num_rotations, device=x.device).repeat_interleave(len(x))
    return inputs, z

