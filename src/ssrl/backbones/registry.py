"""Backbone registry: names to factories, with an error that lists the choices. Names come from
``register_backbone`` (in this process), from the ``ssrl.backbones`` entry points of installed
packages (in any process), from timm and torchvision (``ssrl.backbones.library``), and from
``nn.Module`` instances passed to ``pretrain`` (``hold_backbone``, this process only)."""

import copy
import hashlib
from functools import partial
from importlib.metadata import entry_points
from typing import Callable

from torch import nn

from ssrl.backbones.library import build_library_backbone, is_library_name, probe_dim
from ssrl.errors import SsrlError
from ssrl.hashing import update_digest
from ssrl.seeding import seeded

BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str):
    """Register ``factory(*dims) -> nn.Module`` (with ``.dim``) under ``name``: image backbones take
    (in_channels, image_size), text backbones (vocab_size, max_len)."""

    def add(factory):
        BACKBONES[name] = factory
        return factory

    return add


HELD = "module:"  # the name of an nn.Module instance given to pretrain (``hold_backbone``)


def _from_entry_points(name: str) -> bool:
    """Register ``name`` from the ``ssrl.backbones`` entry points of installed packages (a
    package declares ``[project.entry-points."ssrl.backbones"] NAME = "pkg.module:factory"``),
    so a run made with a user's backbone reloads in any process; False if none has it."""
    found = [e for e in entry_points(group="ssrl.backbones") if e.name == name]
    if found:
        BACKBONES[name] = found[0].load()
    return bool(found)


def hold_backbone(module: nn.Module) -> str:
    """Register an ``nn.Module`` instance, for this process, under a name a run can record; its
    factory returns a copy of the module as given (its weights are the run's random init), with
    ``dim`` probed where the module has none. Image backbones only: the probe is an image batch."""
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        update_digest(digest, tensor)
    name = f"{HELD}{type(module).__name__}-{digest.hexdigest()[:12]}"

    def factory(in_channels: int, image_size: int) -> nn.Module:
        net = copy.deepcopy(module)
        if not hasattr(net, "dim"):
            net.dim = probe_dim(net, type(module).__name__, in_channels, image_size)
        return net

    BACKBONES[name] = factory
    return name


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def build_backbone(name: str, *dims: int, seed: int | None = None, pretrained: bool = False) -> nn.Module:
    """Build backbone ``name`` for ``dims`` (in_channels, image_size) or, for a text backbone,
    (vocab_size, max_len); ``timm:NAME`` and ``torchvision:NAME`` are those libraries' models
    (``ssrl.backbones.library``); with ``seed`` its initial weights are a function of the seed alone,
    so the random-init floor of a run can be rebuilt exactly for evaluation. ``pretrained``: a
    library backbone's published weights instead (fetched, or read from the library's cache)."""
    if pretrained and not is_library_name(name):
        raise SsrlError(f"backbone {name} has no published weights: only timm:NAME and torchvision:NAME have them")
    if is_library_name(name):
        factory = partial(build_library_backbone, name, pretrained=pretrained)
    elif name in BACKBONES or _from_entry_points(name):
        factory = BACKBONES[name]
    elif name.startswith(HELD):
        raise SsrlError(f"backbone {name!r} was an nn.Module passed in another process; pass backbone= the module "
                        "again, or register its factory under the 'ssrl.backbones' entry point (README)")
    else:
        raise SsrlError(f"unknown backbone {name!r}; choose one of: {', '.join(list_backbones())}, "
                        "or timm:NAME, torchvision:NAME")
    if seed is None:
        return factory(*dims)
    with seeded(seed):
        return factory(*dims)
