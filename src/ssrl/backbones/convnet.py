"""convnet-small: a six-layer CNN that trains fast on a CPU (the B1 protocol's CPU backbone).

Six 3×3 convolutions of widths 32, 32, 64, 64, 128, 128, each followed by batch norm and ReLU,
a 2×2 max-pool after the second and the fourth, global average pooling: a 128-d feature.
``convnet-small-ln`` has layer norm (over channels and positions of each sample) instead of
batch norm, for methods whose batches must not share statistics (CPC v2's patches,
Hénaff et al. 2020, arXiv:1905.09272).
"""

import torch
from torch import nn

from ssrl.backbones.registry import register_backbone


class ConvNet(nn.Sequential):
    """Plain stack of conv-BN-ReLU blocks; ``dim`` is the width of the last block."""

    kind = "cnn"

    def __init__(self, in_channels: int, widths=(32, 32, 64, 64, 128, 128), pool_after=(1, 3), layer_norm: bool = False):
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            norm = nn.GroupNorm(1, w) if layer_norm else nn.BatchNorm2d(w)
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), norm, nn.ReLU(inplace=True)]
            if i in pool_after:
                layers.append(nn.MaxPool2d(2))
            c = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(*layers)
        self.dim = c

    def forward_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(features, [the map at the end of each resolution, finest first]): the input of each
        max-pool and of the global pool (``ssrl.backbones.maps``)."""
        maps = []
        for layer in self:
            if isinstance(layer, (nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
                maps.append(x)
            x = layer(x)
        return x, maps


@register_backbone("convnet-small")
def convnet_small(in_channels: int, image_size: int) -> ConvNet:
    return ConvNet(in_channels)


@register_backbone("convnet-small-ln")
def convnet_small_ln(in_channels: int, image_size: int) -> ConvNet:
    return ConvNet(in_channels, layer_norm=True)
