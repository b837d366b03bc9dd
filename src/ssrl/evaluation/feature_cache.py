"""Frozen features kept between evaluations, in the run folder (``RUN/features/``).

A second ``evaluate`` of the same run on the same data, the random-init floor beside it, and
every point of a label-efficiency curve need the same features again. They are stored under a
fingerprint of everything they depend on: the backbone's class, its plain attributes (a text
backbone's pooling) and every tensor of its state, the rows fed to it (uint8 pixels or token
ids, after the image size, limit and label fraction were applied), and how they were computed
(precision, memory format). Any change to any of these is another file; nothing is trusted by
name or date. An unreadable or mismatched file is computed again, never fatal; the folder may be
deleted at any time. Only rows held in memory are cached (streamed data would have to be read
to be fingerprinted). A folder keeps its ``KEEP`` most recently used files.

Random-init floors are kept in one folder shared by every run (``shared_floors``), since runs of
the same backbone and seed start from the same weights: the floor of a data set is computed by
the first evaluation on it, and the fingerprint still decides, so a floor is reused only where
its weights, rows and precision are the same.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ssrl.files import save_atomic
from ssrl.hashing import update_digest
from ssrl.notices import notice

KEEP = 32       # feature files a folder keeps, the most recently used
OFF = "off"     # SSRL_CACHE_DIR=off: no folder shared between runs


def shared_floors() -> Path | None:
    """The random-init floors' folder shared by every run: ``$SSRL_CACHE_DIR/floors`` (default
    ``~/.cache/ssrl/floors``); None with ``SSRL_CACHE_DIR=off`` (each run then keeps its own floor)."""
    base = os.environ.get("SSRL_CACHE_DIR") or "~/.cache/ssrl"
    return None if base == OFF else Path(base).expanduser() / "floors"


def fingerprint(backbone: nn.Module, rows: torch.Tensor, precision: str, channels_last: bool) -> str:
    h = hashlib.sha256(f"{type(backbone).__qualname__}|{precision}|{channels_last}".encode())
    plain = sorted((k, v) for k, v in vars(backbone).items() if isinstance(v, (str, int, float, bool)))
    h.update(repr(plain).encode())
    for name, tensor in backbone.state_dict().items():
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        update_digest(h, tensor)
    h.update(f"rows|{rows.dtype}|{tuple(rows.shape)}".encode())
    update_digest(h, rows)
    return h.hexdigest()[:32]


def load(folder: Path, key: str, n: int) -> torch.Tensor | None:
    """The features stored under ``key`` if they are there and well-formed (n rows, float32)."""
    path = folder / f"{key}.npy"
    if not path.is_file():
        return None
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if features.dtype != np.float32 or features.ndim != 2 or len(features) != n:
        return None
    notice(f"features of {n:,} rows from the cache ({path})")
    os.utime(path)  # used now: kept longer by ``store``'s pruning
    return torch.from_numpy(features)


def store(folder: Path, key: str, features: torch.Tensor) -> None:
    """Save ``features`` under ``key``, then delete the folder's least recently used files beyond ``KEEP``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_atomic(folder / f"{key}.npy", lambda f: np.save(f, features.numpy()))
        files = sorted(folder.glob("*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as e:  # a read-only or full disk costs the next evaluation time, never this one's result
        notice(f"features not kept in {folder} ({e.strerror or e})")
