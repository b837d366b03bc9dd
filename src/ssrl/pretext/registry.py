"""Pretext registry: ``@register`` adds a method class under its file's name."""

import inspect

from ssrl.config import override
from ssrl.errors import SsrlError
from ssrl.pretext.base import FAMILY_MIN_STEPS, Pretext

METHODS: dict[str, type[Pretext]] = {}


def register(name: str, *, family: str, modality: str, paper: str):
    """Class decorator: record the method's name, family, modality and paper (and its family's
    ``min_steps`` unless it declares its own), and register it."""

    def add(cls: type[Pretext]) -> type[Pretext]:
        if "index" not in inspect.signature(cls.pseudolabels).parameters:
            raise TypeError(f"{cls.__name__}.pseudolabels must take (x, index=None): the engine passes the "
                            f"batch's index into D_s")
        cls.name, cls.family, cls.modality, cls.paper = name, family, modality, paper
        if "min_steps" not in cls.__dict__:  # the method's own measured value wins over its family's
            cls.min_steps = FAMILY_MIN_STEPS.get(family, Pretext.min_steps)
        METHODS[name] = cls
        return cls

    return add


def get_method(name: str) -> type[Pretext]:
    if name not in METHODS:
        raise SsrlError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def method_config(name: str, params: dict | None = None):
    """The method's ``Config`` with ``params`` (str or typed values) applied; unknown keys are errors."""
    return override(get_method(name).Config(), params or {}, f"method {name!r}")


def list_methods() -> list[dict[str, str]]:
    """One row per registered method: name, family, modality, paper."""
    return [{"name": n, "family": c.family, "modality": c.modality, "paper": c.paper} for n, c in sorted(METHODS.items())]

