"""Backbones of other libraries by name: ``torchvision:NAME`` (a model of
``torchvision.models.list_models()``) and ``timm:NAME`` (a model of ``timm.list_models()``; the
``[timm]`` extra). Either is built at random init for the run's (in_channels, image_size), with
its classifier removed so that it returns pooled features (B, dim), ``dim`` found by a forward
pass. The module stays the library's own: its state dict loads into the same model built by that
library (timm: ``create_model(NAME, num_classes=0, in_chans=C)``; torchvision: ``get_model(NAME)``
with the last ``Linear`` replaced by ``Identity`` and, for grayscale data, the first
convolution taking one channel).

A run records the name (``--backbone timm:resnet18``), so any process with the library rebuilds
it. A run starts at random init, like every backbone here, unless ``--init pretrained`` asks for
the library's published weights (timm: ``pretrained=True``, from the Hugging Face hub, which
adapts the first convolution to ``in_chans``; torchvision: the model's ``DEFAULT`` weights, the
first convolution summed over its RGB inputs for grayscale data, as timm does). They are fetched
once and then read from the library's cache; a machine that can do neither is told so. The run
is then compared with those weights, its start, instead of a random init.
"""

import torch
from torch import nn

from ssrl.errors import SsrlError

PREFIXES = ("timm:", "torchvision:")


def is_library_name(name: str) -> bool:
    return name.startswith(PREFIXES)


def build_library_backbone(name: str, in_channels: int, image_size: int, pretrained: bool = False) -> nn.Module:
    library, _, model = name.partition(":")
    build = _timm if library == "timm" else _torchvision
    try:
        net = build(model, in_channels, image_size, pretrained)
    except (OSError, RuntimeError, ValueError) as e:  # no network, no cache, a damaged download
        if not pretrained:
            raise
        raise SsrlError(f"--init pretrained: cannot get the published weights of {name} "
                        f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); they are downloaded once "
                        "(then read from the library's cache), so this needs the network the first time; "
                        "or use --init random") from e
    net.dim, net.kind = probe_dim(net, name, in_channels, image_size), library
    return net


def _timm(model: str, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
    try:
        import timm
    except ImportError as e:
        raise SsrlError("--backbone timm:...: timm is not installed (pip install timm, or the [timm] extra)") from e
    if not timm.is_model(model):
        raise SsrlError(f"timm has no model {model!r} (timm.list_models('*{model[:4]}*') lists names)")
    try:  # ViTs and other fixed-size models take the image size; the others refuse the keyword
        return timm.create_model(model, pretrained=pretrained, num_classes=0, in_chans=in_channels, img_size=image_size)
    except TypeError:
        return timm.create_model(model, pretrained=pretrained, num_classes=0, in_chans=in_channels)


def _torchvision(model: str, in_channels: int, image_size: int, pretrained: bool) -> nn.Module:
    from torchvision import models

    if model not in models.list_models():
        raise SsrlError(f"torchvision has no model {model!r} (torchvision.models.list_models() lists names)")
    weights = "DEFAULT" if pretrained else None
    try:
        net = models.get_model(model, weights=weights, image_size=image_size)
    except TypeError:
        net = models.get_model(model, weights=weights)
    _replace_last(net, nn.Linear, lambda old: nn.Identity())
    if in_channels != 3:
        _replace_first(net, nn.Conv2d, lambda old: _conv_for(old, in_channels, pretrained))
    return net


def _conv_for(old: nn.Conv2d, in_channels: int, pretrained: bool) -> nn.Conv2d:
    """``old`` taking ``in_channels`` inputs: a new convolution at random init, or, from published
    weights and for grayscale input, the sum of ``old``'s over its inputs (what a grey image,
    R = G = B, gave it)."""
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation,
                    old.groups, old.bias is not None)
    if pretrained and in_channels == 1:
        with torch.no_grad():
            new.weight.copy_(old.weight.sum(dim=1, keepdim=True))
            if old.bias is not None:
                new.bias.copy_(old.bias)
    return new


def _replace_last(net: nn.Module, kind: type, make) -> None:
    name = [n for n, m in net.named_modules() if isinstance(m, kind)][-1]
    _set(net, name, make(net.get_submodule(name)))


def _replace_first(net: nn.Module, kind: type, make) -> None:
    name = next(n for n, m in net.named_modules() if isinstance(m, kind))
    _set(net, name, make(net.get_submodule(name)))


def _set(net: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, child, module)


def probe_dim(net: nn.Module, name: str, in_channels: int, image_size: int) -> int:
    """The width of ``net``'s features, from one forward pass of a zero image batch; a net that
    cannot take the images, or does not return (batch, features), is refused naming it."""
    was_training = net.training
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(2, in_channels, image_size, image_size))
    except (RuntimeError, ValueError, AssertionError) as e:
        raise SsrlError(f"backbone {name} cannot take {in_channels}-channel images of {image_size} px "
                        f"({' '.join(str(e).split())[:200]})") from e
    finally:
        net.train(was_training)
    if out.ndim != 2:
        raise SsrlError(f"backbone {name} returns {tuple(out.shape)} for a batch of images, not (batch, features)")
    return out.shape[1]
