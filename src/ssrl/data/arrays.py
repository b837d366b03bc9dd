"""NumPy arrays: a `.npy` of images, or a `.npz` with images, labels and maybe its own split.

Keys in a `.npz`: `x` or `images` with optional `y` or `labels`; or `x_train`, `y_train`,
`x_test`, `y_test` for a data set that carries its own test split. Images may be
(N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4, as uint8 or as floats in
[0, 1]. Files load with allow_pickle=False: an array file must never run code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from ssrl.data.source import Source, remove_alpha
from ssrl.errors import DataError

IMAGE_KEYS = ("x", "images")
LABEL_KEYS = ("y", "labels")


def to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """Images in any accepted layout -> (N, C, H, W).

    A 4-d array is NCHW when dim 1 could be channels (1, 3, 4) and dims 2, 3 look like
    image sides (> 4); otherwise it must be NHWC with channels last.
    """
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3, 4) and min(x.shape[2:]) > 4:
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3, 4):
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: images of shape {x.shape} are not (N, H, W), (N, H, W, C) or (N, C, H, W) "
                    "with C in 1, 3, 4")


def to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 kept; floats in [0, 1] scaled to 0..255; integers in 0..255 cast."""
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataError(f"{where}: float images must lie in [0, 1], found values in "
                            f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]")
        return np.round(x * 255).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer) and (not x.size or (x.min() >= 0 and x.max() <= 255)):
        return x.astype(np.uint8)
    raise DataError(f"{where}: images must be uint8 or floats in [0, 1], found {x.dtype}")


def images_tensor(x: np.ndarray, where: str) -> torch.Tensor:
    """An image array -> (N, C, H, W) uint8 tensor with C in 1, 3 (RGBA composited onto white)."""
    images = torch.from_numpy(np.ascontiguousarray(to_uint8(to_nchw(x, where), where)))
    return remove_alpha(images) if images.shape[1] == 4 else images


def labels_tensor(y: np.ndarray, n: int, where: str) -> torch.Tensor:
    """Integer class labels (N,) or (N, 1) -> (N,) int64, checked against the image count."""
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DataError(f"{where}: labels must be {n} non-negative integers, found {y.dtype} {y.shape}")
    return torch.from_numpy(y.astype(np.int64))


def _open(path: Path):
    """np.load with pickles refused: an array, or a lazy NpzFile that reads a key when asked."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read array file ({exc})") from exc


def _get(path: Path, data, key: str) -> np.ndarray:
    try:
        return data[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read array {key!r} ({exc})") from exc


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


def load_arrays(path: Path, split: str = "train") -> Source:
    """A `.npy` (unlabeled images) or one split of a `.npz` as a Source."""
    data = _open(path)
    if isinstance(data, np.ndarray):
        if split != "train":
            raise DataError(f"{path}: a .npy file has no {split!r} split")
        return Source(images_tensor(data, str(path)), None, str(path))
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not a .npy or .npz array file")
    with data:
        x_key, y_key = _keys(path, data, split)
        images = images_tensor(_get(path, data, x_key), f"{path} [{x_key}]")
        labels = None if y_key is None else labels_tensor(_get(path, data, y_key), len(images), f"{path} [{y_key}]")
    return Source(images, labels, str(path))
