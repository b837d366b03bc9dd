"""IDX files, the format of MNIST and Fashion-MNIST (gzipped or not).

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of
dimensions), one big-endian uint32 per dimension, then the values. Only dtype 0x08
(unsigned byte) is read: it is what every image data set in this format uses.
A data set is a pair of files: `<prefix>images-idx3-ubyte` (N, H, W) and the sibling
`<prefix>labels-idx1-ubyte` (N,); the test split replaces `train` in the prefix by `t10k`.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from pathlib import Path

import numpy as np
import torch

from ssrl.data.source import Source
from ssrl.errors import DataError

UBYTE = 0x08
IMAGES = re.compile(r"^(?P<prefix>.*)images(?P<sep>[-.])idx3-ubyte(\.gz)?$")
TEST_PREFIXES = ("t10k", "test")  # MNIST's name for its test files, then the common alternative


def is_idx(path: Path) -> bool:
    """Whether the file name says IDX (`...idx3-ubyte`, `...idx1-ubyte.gz`, ...)."""
    return re.search(r"idx\d-ubyte(\.gz)?$", path.name) is not None


def read_idx(path: Path) -> torch.Tensor:
    """The array stored in one IDX file, as a uint8 tensor of the dimensions it declares."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                data = bytearray(f.read())
        else:
            data = bytearray(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if len(data) < 4 or data[0] or data[1]:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = data[2], data[3]
    if dtype != UBYTE:
        raise DataError(f"{path}: IDX dtype code 0x{dtype:02x} is not supported (only 0x08, unsigned byte)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    expected = header + math.prod(dims)  # exact: np.prod wraps in int64, and a wrapped size could pass
    if len(data) != expected:
        raise DataError(f"{path}: corrupt or truncated IDX file: dimensions {dims} need {expected} bytes, "
                        f"found {len(data)}")
    if expected == header:
        raise DataError(f"{path}: IDX file holds no values (dimensions {dims})")
    return torch.frombuffer(data, dtype=torch.uint8, offset=header).reshape(dims)


def _existing(candidates: list[Path]) -> Path | None:
    """The first candidate that exists; plain files come before .gz ones (faster to read)."""
    return next((c for c in candidates if c.is_file()), None)


def _variants(folder: Path, name: str) -> list[Path]:
    return [folder / name, folder / f"{name}.gz"]


def _sibling(images: Path, kind: str, prefix: str | None = None) -> Path | None:
    """The `kind` ("images" or "labels") file next to `images`, optionally with another prefix."""
    m = IMAGES.match(images.name)
    prefix = m["prefix"] if prefix is None else prefix
    idx = "idx3" if kind == "images" else "idx1"
    return _existing(_variants(images.parent, f"{prefix}{kind}{m['sep']}{idx}-ubyte"))


def _test_images(train: Path) -> tuple[Path, str] | None:
    """The test images file that pairs with a train images file, and the word that names it."""
    head, train_word, tail = IMAGES.match(train.name)["prefix"].rpartition("train")
    if not train_word:
        return None
    for word in TEST_PREFIXES:
        found = _sibling(train, "images", head + word + tail)
        if found:
            return found, word
    return None


def _train_images(folder: Path) -> Path:
    """The one train images file in a folder (plain preferred when both it and .gz exist)."""
    names = sorted({f.name.removesuffix(".gz") for f in folder.iterdir()
                    if (m := IMAGES.match(f.name)) and "train" in m["prefix"]})
    if not names:
        raise DataError(f"{folder}: no IDX train images file (train-images-idx3-ubyte[.gz]) in this folder")
    if len(names) > 1:
        raise DataError(f"{folder}: several IDX train images files ({', '.join(names)}); pass the path of one")
    return _existing(_variants(folder, names[0]))


def is_idx_folder(folder: Path) -> bool:
    """Whether a folder holds an IDX train images file."""
    return any((m := IMAGES.match(f.name)) and "train" in m["prefix"] for f in folder.iterdir())


def _images_file(path: Path) -> Path:
    """The images file a spec names: the file itself, or the train file of a folder."""
    if path.is_dir():
        return _train_images(path)
    if not IMAGES.match(path.name):
        raise DataError(f"{path}: not an IDX images file (expected a name like train-images-idx3-ubyte[.gz])")
    return path


def own_test_split(path: Path) -> str | None:
    """How the data set's own test split is stored, or None when it has none."""
    test = _test_images(_images_file(path))
    return None if test is None else f"{test[1]} files"


def load_idx(path: Path, split: str = "train") -> Source:
    """Images (N, 1, H, W) and, when the sibling labels file exists, labels (N,).

    `path` is an images file or a folder holding one; split="test" reads the paired
    t10k (or test) file instead.
    """
    images_file = _images_file(path)
    if split == "test":
        test = _test_images(images_file)
        if test is None:
            raise DataError(f"{path}: no IDX test split (no t10k-images-idx3-ubyte[.gz] next to {images_file.name})")
        images_file = test[0]
    elif split != "train":
        raise DataError(f"{path}: unknown split {split!r} for IDX data (train or test)")
    images = read_idx(images_file)
    if images.ndim != 3:
        raise DataError(f"{images_file}: IDX images must have 3 dimensions (N, H, W), found {tuple(images.shape)}")
    labels_file = _sibling(images_file, "labels")
    labels = None if labels_file is None else read_idx(labels_file).to(torch.int64)
    if labels is not None and labels.shape != images.shape[:1]:
        raise DataError(f"{labels_file}: {tuple(labels.shape)} labels for {len(images)} images in {images_file.name}")
    return Source(images.unsqueeze(1), labels, str(images_file))
