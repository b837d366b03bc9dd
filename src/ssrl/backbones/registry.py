"""Backbone registry: names to factories, with an error that lists the choices."""

from typing import Callable

import torch
from torch import nn

from ssrl.errors import SsrlError

BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str):
    """Register ``factory(in_channels, image_size) -> nn.Module`` (with ``.dim``) under ``name``."""

    def add(factory):
        BACKBONES[name] = factory
        return factory

    return add


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def build_backbone(name: str, in_channels: int, image_size: int, seed: int | None = None) -> nn.Module:
    """Build backbone ``name``; with ``seed`` its initial weights are a function of the seed alone,
    so the random-init floor of a run can be rebuilt exactly for evaluation."""
    if name not in BACKBONES:
        raise SsrlError(f"unknown backbone {name!r}; choose one of: {', '.join(list_backbones())}")
    if seed is None:
        return BACKBONES[name](in_channels=in_channels, image_size=image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BACKBONES[name](in_channels=in_channels, image_size=image_size)
