"""What the colour tasks do to h_θ's input layer: read it, tie its RGB weights, change its width.

The engine builds h_θ for the data's channel count (3 for colour data) and exports exactly
that module, so a colour task that shows h_θ only part of the colour (lightness L) keeps the
3-channel input layer and feeds it L as a grey RGB image. Every backbone here (ConvNet, ResNet,
ViT) starts with one ``nn.Conv2d`` (the stem or the patch embedding); these helpers find it as
the first ``nn.Conv2d`` among the module's submodules.
"""

import copy

import torch
from torch import nn


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


__all__ = ["first_conv", "input_channels", "tie_input_channels", "with_input_channels"]
