"""Data sets by name: `digits` (bundled with scikit-learn), the MNISTs, and torchvision sets.

Fashion-MNIST and MNIST are read from IDX files found on disk before any download is
tried, because the machines this runs on often have no network but do have the files.
The other sets are downloaded once by torchvision into ~/.cache/ssrl.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ssrl.data.arrays import images_tensor
from ssrl.data.idx import is_idx_folder, load_idx
from ssrl.data.source import Source
from ssrl.errors import DataError

CACHE = Path("~/.cache/ssrl").expanduser()
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(i) for i in range(10)]
IDX_SETS = {"fashion-mnist": ("FashionMNIST", FASHION_CLASSES), "mnist": ("MNIST", DIGIT_CLASSES)}
TORCHVISION_SETS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "svhn": "SVHN", "stl10": "STL10"}
NAMES = ("digits", *IDX_SETS, *TORCHVISION_SETS)


def is_name(spec: str) -> bool:
    return spec.lower() in NAMES


def own_test_split(name: str) -> str | None:
    """How the named set's own test split is stored, or None (digits has none)."""
    name = name.lower()
    return "t10k files" if name in IDX_SETS else "torchvision test split" if name in TORCHVISION_SETS else None


def load_digits(split: str = "train") -> Source:
    """scikit-learn's 1797 8x8 digits, values 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits as sklearn_digits

    if split != "train":
        raise DataError(f"digits: no {split!r} split (the data set has none; use a held-out fraction)")
    digits = sklearn_digits()
    images = torch.from_numpy(np.round(digits.images * 255 / 16).astype(np.uint8)).unsqueeze(1)
    return Source(images.contiguous(), torch.from_numpy(digits.target).long(), "digits", DIGIT_CLASSES)


def search_dirs(name: str) -> list[Path]:
    """Where to look for a named set's IDX files, in order."""
    dirs = []
    if os.environ.get("SSRL_DATA_DIR"):
        base = Path(os.environ["SSRL_DATA_DIR"]).expanduser()
        dirs += [base / name, base]  # the named subfolder first: base may hold another set
    repo = Path(__file__).resolve().parents[3]  # src/ssrl/data/named.py -> repository root
    dirs += [Path("/usr/share/datasets") / name, CACHE / name,
             Path.cwd().parent / "shared" / "datasets" / name, repo.parent / "shared" / "datasets" / name]
    return dirs


def _torchvision(name: str, **kwargs):
    """The torchvision data set object, downloaded into CACHE if it is not there yet."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, TORCHVISION_SETS.get(name) or IDX_SETS[name][0])
    try:
        return cls(root=str(CACHE), download=True, **kwargs)
    except Exception as exc:  # network errors come as URLError, OSError, RuntimeError, ...
        raise DataError(f"{name}: download into {CACHE} failed ({_one_line(exc)})") from exc


def _one_line(exc: BaseException) -> str:
    """An exception as one line: torchvision's download errors span several."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def load_idx_set(name: str, split: str = "train") -> Source:
    """Fashion-MNIST or MNIST from the first folder holding its IDX files, else a download."""
    folder = next((d for d in search_dirs(name) if d.is_dir() and is_idx_folder(d)), None)
    classes = IDX_SETS[name][1]
    if folder is not None:
        source = load_idx(folder, split)
        return Source(source.images, source.labels, name, classes)
    if split not in ("train", "test"):
        raise DataError(f"{name}: unknown split {split!r} (train or test)")
    try:
        ds = _torchvision(name, train=split == "train")
    except DataError as exc:
        looked = ", ".join(dict.fromkeys(str(d) for d in search_dirs(name)))  # unique, in order
        raise DataError(f"{name}: IDX files not found in {looked}, and the download failed "
                        f"({_one_line(exc.__cause__ or exc)}); "
                        "set SSRL_DATA_DIR to a folder holding train-images-idx3-ubyte.gz") from exc
    return Source(ds.data.unsqueeze(1).contiguous(), ds.targets.long(), name, classes)


def load_torchvision_set(name: str, split: str = "train") -> Source:
    """CIFAR-10/100, SVHN or STL-10 as uint8 NCHW (STL-10's "unlabeled" split has no labels)."""
    if name in ("cifar10", "cifar100"):
        if split not in ("train", "test"):
            raise DataError(f"{name}: unknown split {split!r} (train or test)")
        ds = _torchvision(name, train=split == "train")
        images, labels = ds.data, np.asarray(ds.targets)     # (N, 32, 32, 3)
    else:
        splits = ("train", "test", "extra") if name == "svhn" else ("train", "test", "unlabeled", "train+unlabeled")
        if split not in splits:
            raise DataError(f"{name}: unknown split {split!r} ({', '.join(splits)})")
        ds = _torchvision(name, split=split)
        images, labels = ds.data, np.asarray(ds.labels)       # (N, 3, H, W)
    labels = None if (labels < 0).any() else torch.from_numpy(labels.astype(np.int64))
    classes = getattr(ds, "classes", None) or DIGIT_CLASSES
    return Source(images_tensor(images, name), labels, name, list(classes))


def load_named(name: str, split: str = "train") -> Source:
    """The named data set's split at its native size."""
    name = name.lower()
    if name == "digits":
        return load_digits(split)
    if name in IDX_SETS:
        return load_idx_set(name, split)
    return load_torchvision_set(name, split)
