"""Image backbones on video: h_θ applied to every frame.

A video run's h_θ is an image backbone (any of them: ``convnet-small``, ResNets, ViTs, timm's),
trained, saved and exported as one; a clip (B, T, C, H, W) is T images to it. Methods get
per-frame features with ``per_frame`` (B, T, dim) and combine them as their paper does (in time
order, per clip); the frozen-feature protocols and ``embed`` read one vector per video through
``FramePooled``, the mean of its frames' features.
"""

import torch
from torch import nn


def per_frame(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Features (B, T, dim) of every frame of clips x (B, T, C, H, W), in one batch of B·T images."""
    b, t = x.shape[:2]
    return backbone(x.flatten(0, 1)).unflatten(0, (b, t))


class FramePooled(nn.Module):
    """A video's features: the mean over its frames of the image backbone's, (B, T, C, H, W) -> (B, dim)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.dim = backbone.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(self.backbone, x).mean(1)
