"""One image file (a path, or its encoded bytes from a shard) -> uint8 (C, S, S) at a working size.

The one decoder every image path shares, in memory or streamed: a folder read into memory, a
folder streamed from disk and LitData shards give the same pixels for the same file. JPEGs are
decoded at a reduced scale when far larger than the working size (Pillow's ``draft``: 1/2, 1/4
or 1/8, never below the size), then resized (shorter side, antialiased) and centre-cropped.
Pixels deeper than 8 bits are scaled, never clipped: 16 bits per channel by the high byte, v >> 8
(``from_16bit``), float images (TIFF mode F) by the rule for float arrays, values in [0, 1] times
255; alpha is composited onto white; CMYK, palette and the rest go through Pillow's conversion.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ssrl.data.arrays import to_uint8
from ssrl.data.source import from_16bit, remove_alpha, resize_square
from ssrl.errors import DataError


def has_alpha(img: Image.Image) -> bool:
    return img.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (img.mode == "P" and "transparency" in img.info)


def is_colour(img: Image.Image) -> bool:
    """Whether an image has colour; a palette image is decoded to look at its pixels."""
    if img.mode in ("1", "L", "LA", "La", "I", "F") or img.mode.startswith("I;16"):
        return False
    if img.mode in ("P", "PA"):
        rgb = np.asarray(img.convert("RGB"))
        return not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    return True


def check_regular(path: Path) -> None:
    """A DataError unless `path` (its link target) is a regular file: opening a FIFO blocks."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:  # ELOOP for a symlink loop, ENOENT for a dangling link
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device or special file"
        raise DataError(f"{path}: not a regular file ({kind}); only regular files are read")


def header(path: Path) -> tuple[tuple[int, int], bool]:
    """((W, H), colour) of one file, reading little more than its header."""
    check_regular(path)
    with Image.open(path) as img:
        return img.size, is_colour(img)


def _to_8bit(img: Image.Image, name: str) -> Image.Image:
    """A gray image deeper than 8 bits (16-bit "I;16*", 32-bit integer "I", float "F") as mode
    "L"; any other image as it is. Pillow's own conversion to "L" clips at 255 instead."""
    if not (img.mode.startswith("I;16") or img.mode in ("I", "F")):
        return img
    values = np.asarray(img)
    if img.mode == "F":
        return Image.fromarray(to_uint8(values, name))
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low < 0 or high > 65535:  # "I" also holds older Pillow's 16-bit PNGs: 16-bit values are read as such
        raise DataError(f"{name}: integer pixels in [{low}, {high}], outside the 16-bit range 0..65535 "
                        "this loader scales to 8 bits")
    return Image.fromarray(from_16bit(values))


def decode(file: Path | bytes, mode: str, size: int, name: str | None = None) -> torch.Tensor:
    """One image file (a path or its bytes) as (C, size, size) uint8 in `mode` ("L" or "RGB"),
    alpha composited onto white. ``name`` (default: the path) is what error messages call it."""
    name = name or str(file)
    with Image.open(io.BytesIO(file) if isinstance(file, (bytes, bytearray, memoryview)) else file) as img:
        img.draft(None, (size, size))  # JPEG: decode at a reduced scale, still >= size, when far larger
        img = _to_8bit(img, name)
        alpha = has_alpha(img)
        img = img.convert(mode + "A" if alpha else mode)
        x = torch.from_numpy(np.array(img)).reshape(img.height, img.width, -1).permute(2, 0, 1)
    if alpha:
        x = remove_alpha(x)
    return resize_square(x[None], size)[0]


def decode_error(name: str, exc: Exception) -> DataError:
    """The DataError naming a file that failed to decode (a DataError already names it)."""
    if isinstance(exc, DataError):
        return exc
    return DataError(f"{name}: cannot decode image ({type(exc).__name__}: {' '.join(str(exc).split())})")
