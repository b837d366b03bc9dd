"""Backbone registry: names to factories, with an error that lists the choices."""

from typing import Callable

from torch import nn

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
    (vocab_size, max_len); with ``seed`` its initial weights are a function of the seed alone,
    so the random-init floor of a run can be rebuilt exactly for evaluation."""
    if name not in BACKBONES:
        raise SsrlError(f"unknown backbone {name!r}; choose one of: {', '.join(list_backbones())}")
    if seed is None:
        return BACKBONES[name](*dims)
    with seeded(seed):
        return BACKBONES[name](*dims)
