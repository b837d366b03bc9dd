"""Backbones on video: an image backbone applied to every frame, or a clip backbone.

A video run's h_θ is either an image backbone (any of them: ``convnet-small``, ResNets, ViTs,
timm's), to which a clip (B, T, C, H, W) is T images, or a clip backbone (``kind = "clip"``:
``r2plus1d-mini``), which takes the clip whole. Methods get per-frame features with ``per_frame``
(B, T, dim; a clip backbone sees each frame as a one-frame clip) and clip features with
``clip_features`` (in time order, as their paper combines them); the frozen-feature protocols
and ``embed`` read one vector per video through ``FramePooled``: the mean of its frames' features,
or the clip backbone's feature of the whole video.
"""

import torch
from torch import nn

CLIP_BACKBONES = ("r2plus1d-mini",)  # built-in backbones of kind "clip"


def is_clip_backbone(backbone: nn.Module) -> bool:
    return getattr(backbone, "kind", None) == "clip"


def per_frame(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Features (B, T, dim) of every frame of clips x (B, T, C, H, W), in one batch of B·T images."""
    b, t = x.shape[:2]
    frames = x.flatten(0, 1)
    return backbone(frames.unsqueeze(1) if is_clip_backbone(backbone) else frames).unflatten(0, (b, t))


def clip_features(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One feature per clip of x (B, T, C, H, W): a clip backbone's (B, dim), or an image
    backbone's frame features concatenated in time order (B, T·dim)."""
    return backbone(x) if is_clip_backbone(backbone) else per_frame(backbone, x).flatten(1)


def pooled(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One vector per clip of x (B, T, C, H, W), (B, dim): a clip backbone's feature, or the mean
    of an image backbone's frame features (which forgets their order)."""
    return backbone(x) if is_clip_backbone(backbone) else per_frame(backbone, x).mean(1)


def clip_dim(backbone: nn.Module, frames: int) -> int:
    """The width of ``clip_features`` for clips of ``frames`` frames."""
    return backbone.dim if is_clip_backbone(backbone) else frames * backbone.dim


class FramePooled(nn.Module):
    """A video's features (B, T, C, H, W) -> (B, dim): the mean over its frames of an image
    backbone's, or a clip backbone's feature of the whole video."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.dim = backbone.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pooled(self.backbone, x)
