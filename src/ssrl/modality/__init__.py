"""Kinds of data as objects: ``Modality`` (``base``), the built-in ``image``, ``text`` and ``video``, and
the registry that picks one for a run (given, or recognised from the data spec)."""

from ssrl.errors import SsrlError
from ssrl.modality.base import Modality, Rows, SourceRows
from ssrl.modality.image import ImageModality
from ssrl.modality.text import TextModality
from ssrl.modality.video import VideoModality

MODALITIES: dict[str, Modality] = {}


def register_modality(modality: Modality) -> Modality:
    """Add ``modality`` under its name. Modalities registered later are asked first which data
    specs they claim; images, the first, take whatever no other claims."""
    MODALITIES[modality.name] = modality
    return modality


def get_modality(name: str | None) -> Modality:
    if name not in MODALITIES:
        raise SsrlError(f"unknown modality {name!r}; choose one of: {', '.join(MODALITIES)}")
    return MODALITIES[name]


def modality_of(spec: str) -> Modality:
    """The modality whose data ``spec`` is, asking the most recently registered first."""
    for modality in reversed(MODALITIES.values()):
        if modality.claims(spec):
            return modality
    raise SsrlError(f"{spec}: no modality recognises this data (known: {', '.join(MODALITIES)})")


register_modality(ImageModality())
register_modality(TextModality())
register_modality(VideoModality())

__all__ = ["MODALITIES", "Modality", "Rows", "SourceRows", "get_modality", "modality_of", "register_modality"]
