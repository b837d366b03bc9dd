"""Backbones on video: an image backbone applied to every frame, or a clip backbone.

A video run's h_θ is either an image backbone (any of them: ``convnet-small``, ResNets, ViTs,
timm's), to which a clip (B, T, C, H, W) is T images, or a clip backbone (``kind = "clip"``:
``r2plus1d-mini``), which takes the clip whole. Methods get per-frame features with ``per_frame``
(B, T, dim; a clip backbone sees each frame as a one-frame clip) and clip features with
``clip_features`` (in time order, as their paper combines them); the frozen-feature protocols
and ``embed`` read one vector per video through ``FramePooled``: an image backbone's frame
features' mean (``pool="mean"``), or their mean beside their linear trend over time
(``pool="trend"``, ``mean_and_trend``), or all of them in time order (``pool="order"``), or the
clip backbone's feature of the whole video.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.maps import features_and_maps

CLIP_BACKBONES = ("r2plus1d-mini",)  # built-in backbones of kind "clip"


def is_clip_backbone(backbone: nn.Module) -> bool:
    return getattr(backbone, "kind", None) == "clip"


def per_frame(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Features (B, T, dim) of every frame of clips x (B, T, C, H, W), in one batch of B·T images."""
    b, t = x.shape[:2]
    frames = x.flatten(0, 1)
    return backbone(frames.unsqueeze(1) if is_clip_backbone(backbone) else frames).unflatten(0, (b, t))


def per_frame_grid(backbone: nn.Module, x: torch.Tensor, grid: int) -> torch.Tensor:
    """Every frame's last feature map (the one h_θ's global pool reads) average-pooled to a
    ``grid`` × ``grid`` grid and flattened, (B, T, dim · grid²), for clips x (B, T, C, H, W) of an
    image backbone that declares its maps (``ssrl.backbones.maps``). Where h_θ(frame) keeps what
    is in a frame but not where, this keeps a coarse where: at ``grid`` = 1 it is h_θ(frame). A map
    smaller than the grid has its cells repeated, so the width is the same at any frame size."""
    b, t = x.shape[:2]
    last = features_and_maps(backbone, x.flatten(0, 1))[1][-1]
    return F.adaptive_avg_pool2d(last, grid).flatten(1).unflatten(0, (b, t))


def frame_features(backbone: nn.Module, x: torch.Tensor, grid: int = 0) -> torch.Tensor:
    """An image backbone's features of every frame of x (B, T, C, H, W): h_θ(frame) (B, T, dim)
    at ``grid`` 0, else ``per_frame_grid`` (B, T, dim · grid²)."""
    return per_frame_grid(backbone, x, grid) if grid else per_frame(backbone, x)


def clip_features(backbone: nn.Module, x: torch.Tensor, grid: int = 0) -> torch.Tensor:
    """One feature per clip of x (B, T, C, H, W): a clip backbone's (B, dim), or an image
    backbone's ``frame_features`` concatenated in time order (B, T·dim·max(grid, 1)²)."""
    return backbone(x) if is_clip_backbone(backbone) else frame_features(backbone, x, grid).flatten(1)


def pooled(backbone: nn.Module, x: torch.Tensor, grid: int = 0) -> torch.Tensor:
    """One vector per clip of x (B, T, C, H, W): a clip backbone's feature (B, dim), or the mean
    of an image backbone's ``frame_features`` (which forgets their order)."""
    return backbone(x) if is_clip_backbone(backbone) else frame_features(backbone, x, grid).mean(1)


def mean_and_trend(h: torch.Tensor) -> torch.Tensor:
    """Frame features h (B, T, D) -> (B, 2·D): their mean over time beside their trend, the
    least-squares slope of each feature against the frame index times T - 1 (the fitted change
    from the first frame to the last; zero for one frame).

    The mean alone forgets the frames' order, so what moves, and which way, is invisible to a probe
    of it. The slope's weights are proportional to 2t - T - 1 (t = 1..T), the approximate rank
    pooling of Bilen et al. 2016 ("Dynamic Image Networks for Action Recognition"), here applied
    to features rather than pixels and scaled to read as a change, comparable with the mean."""
    t = h.shape[1]
    mean = h.mean(1)
    if t < 2:
        return torch.cat([mean, torch.zeros_like(mean)], 1)
    centred = torch.arange(t, dtype=h.dtype, device=h.device) - (t - 1) / 2            # (T,)
    slope = torch.einsum("t,btd->bd", centred, h) / centred.square().sum()
    return torch.cat([mean, slope * (t - 1)], 1)


def clip_dim(backbone: nn.Module, frames: int, grid: int = 0) -> int:
    """The width of ``clip_features`` for clips of ``frames`` frames."""
    return backbone.dim if is_clip_backbone(backbone) else frames * frame_dim(backbone, grid)


def frame_dim(backbone: nn.Module, grid: int = 0) -> int:
    """The width of one frame's ``frame_features`` (a clip backbone: its feature's)."""
    return backbone.dim if is_clip_backbone(backbone) else backbone.dim * max(grid, 1) ** 2


POOLS = ("mean", "trend", "order")  # an image backbone's frames as one vector: their mean; beside it their trend; all in order
WIDTH_BY_FRAMES = ("order",)  # poolings whose width is the clip's frames × the backbone's: no fixed ``dim``


def over_time(h: torch.Tensor, pool: str) -> torch.Tensor:
    """Frame features h (B, T, D) as one vector per clip, as ``pool`` (one of ``POOLS``) says: their
    mean (B, D), ``mean_and_trend`` (B, 2·D), or all of them in time order (B, T·D)."""
    if pool == "trend":
        return mean_and_trend(h)
    return h.flatten(1) if pool == "order" else h.mean(1)


class FramePooled(nn.Module):
    """A video's features (B, T, C, H, W) -> (B, dim): an image backbone's frame features'
    mean (``pool="mean"``) or ``mean_and_trend`` (``"trend"``: dim = 2 × the backbone's), or a clip
    backbone's feature of the whole video (any pool).

    ``pool="order"`` concatenates the frame features in time order (B, T · the backbone's dim; ``dim``
    is None, as it depends on T): a probe of it can read *when* something happened, such as the
    direction of a first move that a later bounce reverses, which mean and trend average away."""

    def __init__(self, backbone: nn.Module, pool: str = "mean"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"unknown pooling {pool!r}; choose one of: {', '.join(POOLS)}")
        self.backbone, self.pool = backbone, pool
        clip = is_clip_backbone(backbone)
        self.dim = backbone.dim if clip else {"mean": backbone.dim, "trend": 2 * backbone.dim, "order": None}[pool]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_clip_backbone(self.backbone):
            return self.backbone(x)
        return over_time(per_frame(self.backbone, x), self.pool)
