"""Images decoded when read: D_s kept as encoded files (a folder's, or LitData shards' items).

``EncodedImages`` stands where an in-memory ``Source`` holds its uint8 tensor (N, C, S, S): it has
``len``, ``shape``, ``dtype`` and ``[index]``, but holds only where each image's encoded bytes are
and decodes the images an index asks for, at the working size (``ssrl.data.decode``: JPEGs at a
reduced scale through Pillow's ``draft``). The engine's DataLoader workers index it with a whole
batch, so decoding runs in the workers and uint8 batches reach the device, where the batched
views are made as for in-memory data: every method runs unchanged on it.

A file that fails to decode is named in a DataError; with ``skip_bad`` it is replaced in its
batch by the batch's nearest readable image, counted and named in a warning. ``decode_all``
reads every image into one tensor (the in-memory path), leaving unreadable ones out. With
``on_device``, training batches leave the workers still encoded (``encoded``) and are decoded on
the training device (``ssrl.data.device_decode``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ssrl.data.decode import decode, decode_error
from ssrl.errors import DataError
from ssrl.notices import interactive

if TYPE_CHECKING:
    from ssrl.data.device_decode import EncodedBatch

PROGRESS_OVER = 2000   # images; below this decoding takes seconds and a bar is noise


def fill_unreadable(out: torch.Tensor, bad: list[int], skipped: list[str]) -> None:
    """Replace each row of ``out`` listed in ``bad`` (unreadable files, skipped) by the nearest
    readable row of the batch; a batch with none is a DataError."""
    if not bad:
        return
    unreadable = set(bad)
    good = [i for i in range(len(out)) if i not in unreadable]
    if not good:
        raise DataError(f"every image of a batch of {len(out)} is unreadable; first: {skipped[-1]}")
    for i in bad:
        out[i] = out[min(good, key=lambda g: abs(g - i))]


def decode_workers() -> int:
    """DataLoader workers that decode encoded images by default: one core left to the main
    process, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


class BatchRows(Dataset):
    """``dataset[index]`` (a LongTensor of rows) is ``(those rows, index, files skipped reading
    them)`` in one indexing: a DataLoader with ``batch_size=None`` and a sampler of index batches
    hands each worker a whole batch. ``rows``: a tensor, or ``EncodedImages``, decoded there (in a
    worker when there are workers; left encoded for the device with ``on_device``). A DataError is
    returned, not raised, so that the training process raises it with its own message (naming
    the file) rather than a worker's traceback."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor | EncodedBatch | DataError, torch.Tensor, list[str]]:
        skipped = getattr(self.rows, "skipped", [])  # EncodedImages with skip_bad: grows as files fail
        before = len(skipped)
        try:
            if getattr(self.rows, "on_device", False):
                return self.rows.encoded(index), index, []
            return self.rows[index], index, skipped[before:]
        except DataError as exc:
            return exc, index, []


def memory_budget() -> int:
    """The default memory budget of decoded images: a quarter of this machine's RAM, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


class FileItems:
    """Items that are files on disk."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __call__(self, i: int) -> tuple[Path, str]:
        return self.paths[i], str(self.paths[i])


class EncodedImages:
    """(N, C, size, size) uint8 images, decoded from ``items`` when indexed (see the module)."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, items: Callable[[int], tuple], count: int, channels: int, size: int,
                 skip_bad: bool = False, index: torch.Tensor | None = None, on_device: bool = False):
        self.items, self.channels, self.size, self.skip_bad = items, channels, size, skip_bad
        self.index = torch.arange(count) if index is None else index  # rows -> item numbers
        self.on_device = on_device  # training batches are decoded on the device (``encoded``)
        self.skipped: list[str] = []  # the files this process skipped (skip_bad), each once

    def __len__(self) -> int:
        return len(self.index)

    def dim(self) -> int:
        return self.ndim

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.channels, self.size, self.size))

    @property
    def nbytes(self) -> int:
        """What the decoded images would take in memory."""
        return len(self) * self.channels * self.size * self.size

    def subset(self, index) -> EncodedImages:
        """The rows at ``index`` (a LongTensor, a list or a slice), still encoded."""
        return EncodedImages(self.items, 0, self.channels, self.size, self.skip_bad, self.index[index], self.on_device)

    def narrow(self, dim: int, start: int, length: int) -> EncodedImages:
        """Rows ``start`` to ``start + length``, still encoded (as a tensor's ``narrow`` is a view)."""
        if dim != 0:
            raise ValueError("EncodedImages narrows along rows (dim 0) only")
        return self.subset(slice(start, start + length))

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, int):
            return self.read(torch.tensor([index]))[0]
        if isinstance(index, slice):
            return self.read(torch.arange(len(self))[index])
        return self.read(torch.as_tensor(index, dtype=torch.long).reshape(-1))

    def _decode(self, row: int) -> torch.Tensor:
        file, name = self.items(int(self.index[row]))
        try:
            return decode(file, "RGB" if self.channels == 3 else "L", self.size, name)
        except Exception as exc:  # Pillow raises many exception types on broken files
            raise decode_error(name, exc) from exc

    def _skip(self, exc: DataError, warn: bool) -> None:
        """Raise ``exc`` unless skip_bad; else note the file in ``skipped`` (once per process)."""
        if not self.skip_bad:
            raise exc
        if str(exc) not in self.skipped:
            self.skipped.append(str(exc))
            if warn:
                warnings.warn(f"skipped (--skip-bad): {exc}", stacklevel=3)

    def read(self, rows: torch.Tensor) -> torch.Tensor:
        """The images of ``rows`` decoded, (B, C, size, size). Without skip_bad the first that
        cannot be decoded raises a DataError naming it; with it, each is replaced by the nearest
        readable image of the batch (its number in ``skipped``, its name in a warning)."""
        out = torch.empty(len(rows), self.channels, self.size, self.size, dtype=torch.uint8)
        bad = []
        for i, row in enumerate(rows.tolist()):
            try:
                out[i] = self._decode(row)
            except DataError as exc:
                self._skip(exc, warn=True)
                bad.append(i)
        fill_unreadable(out, bad, self.skipped)
        return out

    def encoded(self, rows: torch.Tensor) -> EncodedBatch:
        """The files of ``rows`` still encoded, for decoding on the training device."""
        from ssrl.data.device_decode import EncodedBatch

        files, names = [], []
        for row in rows.tolist():
            file, name = self.items(int(self.index[row]))
            data = file if isinstance(file, bytes) else Path(file).read_bytes()
            files.append(torch.frombuffer(bytearray(data), dtype=torch.uint8))
            names.append(name)
        return EncodedBatch(files, names, self.channels, self.size, self.skip_bad)

    def decode_all(self, desc: str) -> tuple[torch.Tensor, list[int]]:
        """Every image in one (N, C, size, size) tensor, and the rows that decoded: without
        skip_bad the first unreadable file raises; with it, unreadable rows are left out (``skipped``)."""
        images = torch.empty(tuple(self.shape), dtype=torch.uint8)
        decoded = []
        for row in tqdm(range(len(self)), desc=desc, disable=len(self) <= PROGRESS_OVER or not interactive()):
            try:
                images[row] = self._decode(row)
                decoded.append(row)
            except DataError as exc:
                self._skip(exc, warn=False)
        return (images if len(decoded) == len(self) else images[decoded]), decoded
