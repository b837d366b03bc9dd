"""Two views of every image, the shared P of the joint-embedding methods."""

import torch
from torch import nn


def two_views(views: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent random views T(x) of each image of x (B, C, H, W).

    Returns inputs (2B, C, S, S), view 1 of every image then view 2, and z (2B,): row k
    shows image z[k], so the two views of image i are rows i and B + i.
    """
    inputs = torch.cat([views(x), views(x)])
    z = torch.arange(len(x), device=x.device).repeat(2)
    return inputs, z
