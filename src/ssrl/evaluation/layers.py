"""Frozen features read from one of h_θ's intermediate feature maps: the per-layer probe.

Zhang, Isola & Efros (2016, "Colorful Image Colorization", arXiv:1603.08511, §3.2) froze a
network and trained a linear classifier on each convolutional layer's activations, average-pooled
over space to about 9,000 dimensions, to see *where* in the network pretraining put what a task
needs. Many pretext papers after it report their features that way. ``LayerReadout(backbone,
layer)`` is that feature for any backbone that declares its maps (``ssrl.backbones.maps``): map
``layer`` (1 = the finest; the last is the map the global pool reads), adaptively
average-pooled to the largest square grid whose channels × cells stay within ``dims`` and whose
cells are no finer than the map's own, then flattened.

The random-init floor is read the same way (the same layer, the same grid), so a per-layer
verdict compares like with like. The grid is fixed when the readout is built, from one forward
pass at the image size given, so every image gives a vector of the same length.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.maps import features_and_maps, has_maps, map_shapes
from ssrl.errors import SsrlError

DIMS = 9216  # the protocol's "about 9,000 dimensions" (Zhang et al. 2016)


def grid_side(channels: int, side: int, dims: int = DIMS) -> int:
    """Cells across the pooled grid of a (channels, side, side) map: the largest whole number
    whose square times ``channels`` is at most ``dims`` (at least 1), no more than ``side``."""
    return max(1, min(side, math.isqrt(dims // channels)))


class LayerReadout(nn.Module):
    """h_θ's map ``layer`` (1-based, finest first) of (B, C, H, W) images, average-pooled to a
    ``grid`` × ``grid`` grid and flattened: (B, C · grid²)."""

    def __init__(self, backbone: nn.Module, layer: int, image_size: int, dims: int = DIMS):
        super().__init__()
        if not has_maps(backbone):
            raise SsrlError(f"--layer needs a backbone that declares its feature maps; {type(backbone).__name__} "
                            "does not (convnet-small and the ResNets do)")
        shapes = map_shapes(backbone, image_size)
        if not 1 <= layer <= len(shapes):
            raise SsrlError(f"--layer {layer}: this backbone has {len(shapes)} feature maps (1 = the finest, "
                            f"{len(shapes)} = the one its global pool reads)")
        self.backbone, self.layer = backbone, layer
        channels, height, width = shapes[layer - 1]
        self.grid = grid_side(channels, min(height, width), dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chosen = features_and_maps(self.backbone, x)[1][self.layer - 1]
        return F.adaptive_avg_pool2d(chosen, self.grid).flatten(1)


__all__ = ["DIMS", "LayerReadout", "grid_side"]
