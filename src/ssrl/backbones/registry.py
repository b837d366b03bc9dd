"""Backbone registry: names to factories, with an error that lists the choices."""

from functools import partial
from typing import Callable

from torch import nn

from ssrl.backbones.library import build_library_backbone, is_library_name
from ssrl.errors import SsrlError
from ssrl.seeding import seeded

BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str):
    """Register ``factory(*dims) -> nn.Module`` (with ``.dim``) under ``name``: image backbones take
    (in_channels, image_size), text backbones (vocab_size, max_len)."""

    def add(factory):
        BACKBONES[name] = factory
        return factory

    return add


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def build_backbone(name: str, *dims: int, seed: int | None = None) -> nn.Module:
    """Build backbone ``name`` for ``dims`` (in_channels, image_size) or, for a text backbone,
    (vocab_size, max_len); ``timm:NAME`` and ``torchvision:NAME`` are those libraries' models
    (``ssrl.backbones.library``); with ``seed`` its initial weights are a function of the seed alone,
    so the random-init floor of a run can be rebuilt exactly for evaluation."""
    if is_library_name(name):
        factory = partial(build_library_backbone, name)
    elif name in BACKBONES:
        factory = BACKBONES[name]
    else:
        raise SsrlError(f"unknown backbone {name!r}; choose one of: {', '.join(list_backbones())}, "
                        "or timm:NAME, torchvision:NAME")
    if seed is None:
        return factory(*dims)
    with seeded(seed):
        return factory(*dims)
