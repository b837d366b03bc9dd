"""NumPy arrays: a `.npy` of images, or a `.npz` with images, labels and maybe its own split.

Keys in a `.npz`: `x` or `images` with optional `y` or `labels`; or `x_train`, `y_train`,
`x_test`, `y_test` for a data set that carries its own test split. Images may be
(N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4, as uint8, as uint16 (16-bit
images, scaled by the high byte like 16-bit image files), or as floats in [0, 1]. Files
load with allow_pickle=False: an array file must never run code. An array's header is
checked against the bytes that follow it before numpy allocates what the header declares.
"""

from __future__ import annotations

import lzma
import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ssrl.data.source import Source, from_16bit, remove_alpha
from ssrl.errors import DataError

# What reading a damaged .npy, or a damaged member of an .npz (a zip file), raises. RuntimeError
# covers zipfile's "encrypted" and NotImplementedError's "compression method not supported";
# SyntaxError and TokenError come from numpy parsing a damaged header dict.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, RuntimeError,
               MemoryError, SyntaxError, tokenize.TokenError)

IMAGE_KEYS = ("x", "images")
LABEL_KEYS = ("y", "labels")


def image_layout(shape: tuple[int, ...]) -> str | None:
    """``NHW``, ``NCHW`` or ``NHWC`` for the shape of a stack of images, None for any other shape.

    A 4-d array is NCHW when dim 1 could be channels (1, 3, 4) and dims 2, 3 look like
    image sides (> 4); otherwise NHWC when dim 3 could be channels.
    """
    if len(shape) == 3:
        return "NHW"
    if len(shape) == 4 and shape[1] in (1, 3, 4) and min(shape[2:]) > 4:
        return "NCHW"
    if len(shape) == 4 and shape[3] in (1, 3, 4):
        return "NHWC"
    return None


def to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """Images in any accepted layout (``image_layout``) -> (N, C, H, W)."""
    layout = image_layout(x.shape)
    if layout == "NHW":
        return x[:, None]
    if layout == "NCHW":
        return x
    if layout == "NHWC":
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: images of shape {x.shape} are not (N, H, W), (N, H, W, C) or (N, C, H, W) "
                    "with C in 1, 3, 4")


def _check_finite(x: np.ndarray, where: str) -> None:
    """A DataError naming NaN or infinite values: how many, and in a stack of images (N, ...) the
    first image holding one."""
    for name, bad in (("NaN", np.isnan(x)), ("inf", np.isinf(x))):
        if bad.any():
            first = f" (first in image {int(np.argwhere(bad)[0][0])})" if x.ndim >= 3 else ""
            raise DataError(f"{where}: {int(bad.sum()):,} {name} value(s) in float pixels{first}")


def to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 kept; uint16 scaled by the high byte (``from_16bit``); floats in [0, 1] scaled to
    0..255; other integers in 0..255 cast.

    A uint16 array whose values all fit 0..255 is refused: scaled, every pixel would be 0, and
    such an array is most likely 8-bit images stored wide.
    """
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "u" and x.dtype.itemsize == 2:  # any byte order
        if x.size and x.max() <= 255:
            raise DataError(f"{where}: uint16 images with every value in 0..255 would scale to black "
                            "(16 bits are read by the high byte); store 8-bit images as uint8")
        return from_16bit(x)
    if x.dtype.kind == "f":
        _check_finite(x, where)
        if x.size and not (x.min() >= 0 and x.max() <= 1):
            raise DataError(f"{where}: float images must lie in [0, 1], found values in [{x.min():.3g}, {x.max():.3g}]")
        return np.round(x * 255).astype(np.uint8)
    if x.dtype.kind in "iu":
        if x.size and not (x.min() >= 0 and x.max() <= 255):
            raise DataError(f"{where}: {x.dtype} images must lie in 0..255, found values in [{x.min()}, {x.max()}] "
                            "(16-bit images: store them as uint16)")
        return x.astype(np.uint8)
    raise DataError(f"{where}: images must be uint8, uint16 or floats in [0, 1], found {x.dtype}")


def images_tensor(x: np.ndarray, where: str) -> torch.Tensor:
    """An image array -> (N, C, H, W) uint8 tensor with C in 1, 3 (RGBA composited onto white)."""
    if x.size == 0:  # (0, H, W) or a side of 0: nothing to train on, and a bad batch size later
        raise DataError(f"{where}: no images: the array has shape {x.shape}")
    images = torch.from_numpy(np.ascontiguousarray(to_uint8(to_nchw(x, where), where)))
    return remove_alpha(images) if images.shape[1] == 4 else images


def labels_tensor(y: np.ndarray, n: int, where: str) -> torch.Tensor:
    """Integer class labels (N,) or (N, 1) -> (N,) int64, checked against the image count."""
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DataError(f"{where}: labels must be {n} non-negative integers, found {y.dtype} {y.shape}")
    return torch.from_numpy(y.astype(np.int64))


def _check_npy(f, size: int, where: str) -> None:
    """A DataError unless `f` (`size` bytes) is an .npy stream of numbers holding exactly the data
    its header declares: a truncated or corrupt file must not make numpy allocate a huge array
    (MemoryError) or read a prefix of the data, and numpy reads anything else as a pickle."""
    if f.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
        raise DataError(f"{where}: not an .npy array (no NumPy magic number)")
    f.seek(0)
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):
        return  # 3.0 (a UTF-8 header) has no public reader: np.load checks what it can
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(f)
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects ({dtype}), and ssrl never unpickles data; store numbers")
    declared, found = math.prod(shape) * dtype.itemsize, size - f.tell()  # math.prod: exact, never wraps
    if declared != found:
        raise DataError(f"{where}: corrupt or truncated array: shape {shape} of {dtype} needs {declared:,} bytes, "
                        f"found {found:,}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (SyntaxError, tokenize.TokenError)):
        return "damaged .npy header"
    return str(exc) or type(exc).__name__


def _open(path: Path):
    """np.load with pickles refused: an array, or a lazy NpzFile that reads a key when asked."""
    try:
        with open(path, "rb") as f:
            magic = f.read(len(np.lib.format.MAGIC_PREFIX))
            if magic == np.lib.format.MAGIC_PREFIX:
                f.seek(0)
                _check_npy(f, os.fstat(f.fileno()).st_size, str(path))
            elif not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip: an .npz
                # np.load would take it for a pickle, and its refusal suggests allow_pickle=True
                raise DataError(f"{path}: not a NumPy .npy or .npz file (it starts with neither magic number)")
        return np.load(path, allow_pickle=False)
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read array file ({_reason(exc)})") from exc


def _get(path: Path, data: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    """One array of an .npz, its header checked first (``_check_npy``)."""
    where = f"{path} [{key}]"
    member = key if key in data.zip.namelist() else f"{key}.npy"
    try:
        with data.zip.open(member) as f:
            _check_npy(f, data.zip.getinfo(member).file_size, where)
        return data[key]
    except READ_ERRORS as exc:
        raise DataError(f"{where}: cannot read array ({_reason(exc)})") from exc


def _keys(path: Path, data: np.lib.npyio.NpzFile, split: str) -> tuple[str, str | None]:
    """The image key and label key (or None) to read for `split`."""
    if "x_train" in data:
        if split not in ("train", "test") or f"x_{split}" not in data:
            raise DataError(f"{path}: no {split!r} split (keys: {', '.join(data)})")
        return f"x_{split}", f"y_{split}" if f"y_{split}" in data else None
    x = next((k for k in IMAGE_KEYS if k in data), None)
    if x is None:
        raise DataError(f"{path}: no images array; expected key x, images or x_train (keys: {', '.join(data)})")
    if split != "train":
        raise DataError(f"{path}: no {split!r} split (an own split needs x_train and x_test arrays)")
    return x, next((k for k in LABEL_KEYS if k in data), None)


def own_test_split(path: Path) -> str | None:
    """How the file stores its own test split, or None when it has none."""
    if path.suffix != ".npz":
        return None
    with _open(path) as data:
        return "x_test/y_test arrays" if "x_train" in data and "x_test" in data else None


def read_arrays(path: Path, split: str = "train", label_key: str | None = None) -> tuple[
        np.ndarray, str, np.ndarray | None, str]:
    """(data array, where it is, label array or None, where it is) of a `.npy` or of one split
    of a `.npz`, as stored; "where" names the file and key for messages. ``label_key``: the
    labels to read instead of ``y``/``labels`` (of a split file: ``KEY_train``, ``KEY_test``)."""
    data = _open(path)
    if isinstance(data, np.ndarray):
        if split != "train":
            raise DataError(f"{path}: a .npy file has no {split!r} split")
        return data, str(path), None, ""
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not a .npy or .npz array file")
    with data:
        x_key, y_key = _keys(path, data, split)
        if label_key is not None:
            y_key = f"{label_key}_{split}" if "x_train" in data else label_key
            if y_key not in data:
                raise DataError(f"{path}: no labels {y_key!r} (keys: {', '.join(data)})")
        x = _get(path, data, x_key)
        return x, f"{path} [{x_key}]", None if y_key is None else _get(path, data, y_key), f"{path} [{y_key}]"


def load_arrays(path: Path, split: str = "train") -> Source:
    """A `.npy` (unlabeled images) or one split of a `.npz` as a Source."""
    x, x_where, y, y_where = read_arrays(path, split)
    images = images_tensor(x, x_where)
    labels = None if y is None else labels_tensor(y, len(images), y_where)
    return Source(images, labels, str(path))


def stored_shape(path: Path) -> tuple[int, ...] | None:
    """The shape of a `.npy`'s array, or of the data array of a `.npz` (``x_train``, ``x`` or
    ``images``), read from its header alone; None where there is none or it cannot be read (the
    loader then says why)."""
    try:
        with open(path, "rb") as f:
            if f.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX:
                f.seek(0)
                return _header_shape(f)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            key = next((k for k in ("x_train", *IMAGE_KEYS) if f"{k}.npy" in names), None)
            if key is None:
                return None
            with z.open(f"{key}.npy") as f:
                return _header_shape(f)
    except READ_ERRORS:
        return None


def _header_shape(f) -> tuple[int, ...]:
    version = np.lib.format.read_magic(f)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return tuple(read_header(f)[0])
