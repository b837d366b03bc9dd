"""What the pixel tasks do to h_θ's input layer: read it, tie its RGB weights, change its width.

The engine builds h_θ for the data's channel count (3 for colour data) and exports exactly
that module, so a colour task that shows h_θ only part of the colour (lightness L) keeps the
3-channel input layer and feeds it L as a grey RGB image. Every backbone here (ConvNet, ResNet,
ViT) starts with one ``nn.Conv2d`` (the stem or the patch embedding); these helpers find it as
the first ``nn.Conv2d`` among the module's submodules. ``SplitBrainBackbone`` is split-brain's
h_θ, two copies of the backbone over the Lab channel groups, built with them.
"""

import copy

import torch
from torch import nn

from ssrl.errors import SsrlError
from ssrl.pretext.lab import AB_RANGE, grey_rgb, require_colour, split_lab


def first_conv(backbone: nn.Module) -> tuple[nn.Module, str, nn.Conv2d] | None:
    """(parent module, attribute name, conv) of the backbone's first ``nn.Conv2d``, or None."""
    for name, module in backbone.named_modules():
        if isinstance(module, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            return backbone.get_submodule(parent_name), attr, module
    return None


def input_channels(backbone: nn.Module) -> int | None:
    """The channel count h_θ was built for (its first conv's), or None where it has no conv."""
    found = first_conv(backbone)
    return None if found is None else found[2].in_channels


def image_channels(backbone: nn.Module, method: str) -> int:
    """``input_channels``, for a method whose k_γ predicts the image itself; a backbone with no
    convolution is refused with an error naming the method."""
    channels = input_channels(backbone)
    if channels is None:
        raise SsrlError(f"{method}: cannot tell how many image channels {type(backbone).__name__} takes "
                        "(it has no convolution)")
    return channels


@torch.no_grad()
def tie_input_channels(backbone: nn.Module) -> nn.Module:
    """Set each filter of the first conv to the same weights on every input channel (their mean),
    in place; returns the backbone.

    Fed grey images (R = G = B), the three channels' weights get identical gradients, so tied
    weights stay tied through training (and weight decay): the backbone then sees any RGB image
    as its grey mean(R, G, B), the pretraining input. Untied, the weights' colour differences
    would stay at their random init and add random colour features at evaluation."""
    found = first_conv(backbone)
    if found is not None:
        w = found[2].weight
        w.copy_(w.mean(dim=1, keepdim=True).expand_as(w))
    return backbone


@torch.no_grad()
def with_input_channels(backbone: nn.Module, channels: int) -> nn.Module:
    """A deep copy of the backbone whose first conv takes ``channels`` inputs (≤ the original's).

    The new conv keeps the original's shape otherwise and its weights on the first ``channels``
    input channels (and its bias), so the copy's initial weights are a function of the original's:
    the random init of a seeded backbone stays a function of the seed."""
    clone = copy.deepcopy(backbone)
    found = first_conv(clone)
    if found is None:
        raise ValueError(f"{type(backbone).__name__} has no convolution whose input channels could be changed")
    parent, attr, old = found
    if channels > old.in_channels:
        raise ValueError(f"cannot widen the first conv from {old.in_channels} to {channels} input channels")
    new = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation,
                    old.groups, old.bias is not None, old.padding_mode)
    new.weight.copy_(old.weight[:, :channels])
    if old.bias is not None:
        new.bias.copy_(old.bias)
    setattr(parent, attr, new.to(old.weight.device))
    return clone


class SplitBrainBackbone(nn.Module):
    """h_θ = [F_L(L), F_ab(ab)] of an RGB image (B, 3, H, W) in [0, 1] → (B, dim_L + dim_ab).

    F_L takes L as grey RGB, F_ab takes ab / 110; each half sees none of the other's channels
    (Zhang et al. 2017, split-brain autoencoders)."""

    def __init__(self, l_net: nn.Module, ab_net: nn.Module):
        super().__init__()
        self.l_net, self.ab_net = l_net, ab_net  # F_L: 3 channels (grey RGB), F_ab: 2 channels
        self.dim = l_net.dim + ab_net.dim

    @classmethod
    def from_backbone(cls, backbone: nn.Module) -> "SplitBrainBackbone":
        """F_ab a copy of the RGB backbone taking ab, F_L the backbone itself, input weights tied in place."""
        ab_net = with_input_channels(backbone, 2)
        return cls(tie_input_channels(backbone), ab_net)

    @staticmethod
    def inputs(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The halves' inputs: (L as grey RGB (B, 3, H, W), ab / 110 (B, 2, H, W))."""
        require_colour(rgb.shape[1], "split_brain")
        l, ab = split_lab(rgb)
        return grey_rgb(l), ab / AB_RANGE

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        grey, ab = self.inputs(rgb)
        return torch.cat([self.l_net(grey), self.ab_net(ab)], dim=1)


__all__ = ["SplitBrainBackbone", "first_conv", "image_channels", "input_channels", "tie_input_channels",
           "with_input_channels"]
