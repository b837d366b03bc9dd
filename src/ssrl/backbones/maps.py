"""h_θ's feature maps at several scales, through an interface each backbone family declares.

``features_and_maps(backbone, x)`` returns h = h_θ(x), exactly the backbone's own output, and
the spatial maps its stages produce, finest first, the last being the map its global pool reads.
Methods that contrast local features (AMDIM, YADIM) need both from one forward pass.

How each family gives its maps, none by hooking a layer found by its type:
- a backbone with a ``forward_maps(x) -> (h, maps)`` method (``convnet-small``; a user's own
  backbone can declare it too);
- torchvision's ``ResNet`` (ssrl's ``resnet18/34/50``, ``torchvision:resnet*``), through its
  public stages ``conv1 … layer4`` and ``avgpool``.
Any other backbone is refused with the error ``MapsUnavailable`` (which names the method to add).
"""

import sys

import torch
from torch import nn

from ssrl.errors import SsrlError


class MapsUnavailable(SsrlError):
    """The backbone declares no feature maps."""


def _is_resnet(backbone: nn.Module) -> bool:
    resnet = sys.modules.get("torchvision.models.resnet")  # not imported: no ResNet was built
    return resnet is not None and isinstance(backbone, resnet.ResNet)


def has_maps(backbone: nn.Module) -> bool:
    return hasattr(backbone, "forward_maps") or _is_resnet(backbone)


def features_and_maps(backbone: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(h (B, dim), [maps (B, C_s, H_s, W_s), finest first]) of images x (B, C, H, W)."""
    if hasattr(backbone, "forward_maps"):
        return backbone.forward_maps(x)
    if _is_resnet(backbone):
        return _resnet_maps(backbone, x)
    raise MapsUnavailable(f"backbone {type(backbone).__name__} exposes no feature maps: give it a method "
                          "forward_maps(x) -> (features, [maps finest first]), or use convnet-small or a ResNet")


def _resnet_maps(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    y = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    maps = []
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        y = stage(y)
        maps.append(y)
    return net.fc(torch.flatten(net.avgpool(y), 1)), maps


def map_shapes(backbone: nn.Module, side: int = 32) -> list[tuple[int, int, int]]:
    """(channels, height, width) of each map, finest first, for ``side``-px square images, from one
    forward pass of zeros (with the channels of the backbone's first convolution) in eval mode: no
    batch-norm statistics move."""
    first = next((m for m in backbone.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise MapsUnavailable(f"backbone {type(backbone).__name__} has no convolution to read its input channels from")
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(2, first.in_channels, side, side, device=first.weight.device)
            _, maps = features_and_maps(backbone, x)
    finally:
        backbone.train(was_training)
    return [tuple(m.shape[1:]) for m in maps]


def map_channels(backbone: nn.Module) -> list[int]:
    """Channels of each map, finest first (``map_shapes`` at 32 px)."""
    return [c for c, _, _ in map_shapes(backbone)]


__all__ = ["MapsUnavailable", "features_and_maps", "has_maps", "map_channels", "map_shapes"]
