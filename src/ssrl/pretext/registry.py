"""Pretext registry: ``@register`` adds a method class under its file's name."""

from dataclasses import fields

from ssrl.config import parse_value
from ssrl.errors import SsrlError
from ssrl.pretext.base import Pretext

METHODS: dict[str, type[Pretext]] = {}


def register(name: str, *, family: str, modality: str, paper: str):
    """Class decorator: record the method's name, family, modality and paper, and register it."""

    def add(cls: type[Pretext]) -> type[Pretext]:
        cls.name, cls.family, cls.modality, cls.paper = name, family, modality, paper
        METHODS[name] = cls
        return cls

    return add


def get_method(name: str) -> type[Pretext]:
    if name not in METHODS:
        raise SsrlError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def method_config(name: str, params: dict | None = None):
    """The method's ``Config`` with ``params`` (str or typed values) applied; unknown keys are errors."""
    cls = get_method(name)
    known = {f.name: f for f in fields(cls.Config)}
    values = {}
    for key, value in (params or {}).items():
        if key not in known:
            raise SsrlError(f"method {name!r} has no parameter {key!r}; it has: {', '.join(known) or 'none'}")
        default = getattr(cls.Config(), key)
        try:
            values[key] = parse_value(value, default) if isinstance(value, str) else value
        except ValueError as e:
            raise SsrlError(f"method {name!r}: bad value for {key}: {value!r} ({e})") from e
    return cls.Config(**values)


def list_methods() -> list[dict[str, str]]:
    """One row per registered method: name, family, modality, paper."""
    return [{"name": n, "family": c.family, "modality": c.modality, "paper": c.paper} for n, c in sorted(METHODS.items())]

