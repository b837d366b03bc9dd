"""One entry point over every format: a spec (path or data-set name) -> Source.

The spec decides the format: LitData shards written by ``ssrl prepare``, a folder of IDX
files, an image folder, an IDX file, a .npy/.npz file, or a data-set name. Each format answers
two questions, "load this split" and "do you have your own test split?", which is all
load_labeled needs.

Image folders and shards are read encoded; ``held_or_streamed`` decides whether a run decodes
them all into memory or streams them (decodes batch by batch while training): streaming when
asked, or, left to choose, when the decoded images would exceed the memory budget (by default a
quarter of the machine's RAM). It says which and why. Everything else loads into memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import warnings

import torch

from ssrl.data import arrays, folder, idx, named, objects, shards
from ssrl.data.encoded import memory_budget
from ssrl.data.source import Source, at_size
from ssrl.data.split import stratified_split
from ssrl.errors import DataError
from ssrl.notices import notice


@dataclass
class _Format:
    load: Callable[[str], Source]          # split -> Source
    own_test: Callable[[], str | None]     # how the own test split is stored, or None


def _format(spec: str, image_size: int | None, skip_bad: bool) -> _Format:
    path = Path(spec).expanduser()
    if objects.is_held_spec(spec) and not path.exists():  # an array or Dataset given in Python
        return _Format(partial(objects.load_held, spec, image_size=image_size), lambda: None)
    if path.is_dir() and shards.is_shards(path):
        return _Format(partial(shards.load_shards, path, image_size=image_size, skip_bad=skip_bad),
                       partial(shards.own_test_split, path))
    if path.is_dir() and idx.is_idx_folder(path):
        return _Format(partial(idx.load_idx, path), partial(idx.own_test_split, path))
    if path.is_dir():
        return _Format(partial(folder.load_folder, path, image_size=image_size, skip_bad=skip_bad),
                       lambda: "train/ and test/ subfolders" if folder.has_own_split(path) else None)
    if path.is_file() and path.suffix.lower() in (".npy", ".npz"):
        return _Format(partial(arrays.load_arrays, path), partial(arrays.own_test_split, path))
    if path.is_file() and idx.is_idx(path):
        return _Format(partial(idx.load_idx, path), partial(idx.own_test_split, path))
    if path.is_file():
        raise DataError(f"{path}: unsupported file type (expected an image folder, an IDX file, .npy or .npz)")
    if named.is_name(spec):
        return _Format(partial(named.load_named, spec), partial(named.own_test_split, spec))
    raise DataError(f"{spec}: no such file or folder, and not a known data-set name "
                    f"(known: {', '.join(named.NAMES)})")


def load_source(spec: str, *, split: str = "train", image_size: int | None = None,
                skip_bad: bool = False, encoded: bool = False) -> Source:
    """D_s or one split of a labeled set. spec is a path or a data-set name.

    image_size resizes every image to image_size x image_size (shorter side, then centre
    crop); without it images keep their native size (image folders of mixed sizes: 64).
    skip_bad leaves out image files that cannot be decoded, with one warning. encoded: an image
    folder's or shards' images stay encoded (``held_or_streamed`` then decides), else are decoded.
    """
    source = _format(str(spec), image_size, skip_bad).load(split)
    if not encoded:
        source = decoded(source)
    return at_size(source, image_size)


def held_or_streamed(source: Source, stream: bool | None, budget: int | None = None) -> Source:
    """``source`` as a run reads it: still encoded (streamed), or decoded into memory. ``stream``
    None streams when the decoded images would take more than ``budget`` bytes (default: a
    quarter of RAM). States the choice for encoded sources; in-memory formats stay in memory."""
    if source.in_memory:
        if stream:
            notice(f"{source.name}: this format is read into memory; --stream applies to image folders and shards")
        return source
    n, c, size, need = len(source), source.channels, source.image_size[0], source.images.nbytes
    budget = budget or memory_budget()
    if stream is None:
        stream = need > budget
        why = f"{_gb(need)} decoded, {'over' if stream else 'within'} the memory budget of {_gb(budget)}"
    else:
        why = f"{'--stream' if stream else '--no-stream'}, {_gb(need)} decoded"
    notice(f"{source.name}: {n:,} images at {size} px, {c} channel(s): "
           + (f"streamed from disk, decoded while training ({why})" if stream else f"decoded into memory ({why})"))
    return source if stream else decoded(source)


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def decoded(source: Source) -> Source:
    """``source`` with its images decoded into memory (no-op for an in-memory one); unreadable
    files are named in a DataError, or with skip_bad left out and counted in one warning."""
    if source.in_memory:
        return source
    encoded = source.images
    images, kept = encoded.decode_all(f"decoding {Path(source.name).name}")
    if encoded.skipped:
        warnings.warn(f"{source.name}: skipped {len(encoded.skipped)} unreadable image file(s); "
                      f"first: {encoded.skipped[0]}", stacklevel=3)
    if not kept:
        raise DataError(f"no readable images found in {source.name}")
    labels = None if source.labels is None else source.labels[kept]
    return Source(images, labels, source.name, source.classes)


def _align(train: Source, test: Source, test_spec: str) -> Source:
    """`test` with train's channels and label numbering, or a DataError saying why it cannot be."""
    if test.channels != train.channels:
        test = decoded(test)  # gray test images are repeated to colour in memory
    images, labels = test.images, test.labels
    if test.image_size != train.image_size:
        raise DataError(f"{test_spec}: images of size {test.image_size}, but the training data's are "
                        f"{train.image_size}; pass image_size")
    if test.channels != train.channels:
        if test.channels != 1:
            raise DataError(f"{test_spec}: {test.channels}-channel images, but the training data has {train.channels}")
        images = images.expand(-1, 3, -1, -1)
    if labels is None:
        raise DataError(f"{test_spec}: the test data has no labels")
    if train.classes and test.classes and test.classes != train.classes:
        missing = sorted(set(test.classes) - set(train.classes))
        if missing:
            raise DataError(f"{test_spec}: classes not in the training data: {', '.join(missing)}")
        labels = torch.tensor([train.classes.index(c) for c in test.classes])[labels]
    return Source(images, labels, test.name, train.classes)


def load_labeled(spec: str, *, test_spec: str | None = None, image_size: int | None = None,
                 skip_bad: bool = False, seed: int = 0, holdout: float = 0.2, stream: bool | None = False,
                 budget: int | None = None) -> tuple[Source, Source, str]:
    """(train, test, note) of a labeled source, D_t.

    The test split is, in order: test_spec when given (an explicit choice wins), the
    source's own split (IDX t10k files, train/ and test/ subfolders, x_test in an .npz,
    a named set's test split), else a stratified `holdout` fraction drawn with `seed`.
    `note` is one sentence saying which. Raises DataError if the data has no labels.
    ``stream`` and ``budget``: as ``held_or_streamed`` (False: decoded into memory).
    """
    if not 0 < holdout < 1:
        raise DataError(f"holdout must be a fraction in (0, 1), got {holdout}")

    def read(source: Source) -> Source:
        return at_size(held_or_streamed(source, stream, budget) if stream is not False else decoded(source), image_size)

    fmt = _format(str(spec), image_size, skip_bad)
    train = read(fmt.load("train"))
    if train.labels is None:
        raise DataError(f"{spec}: no labels (use class subfolders, an IDX labels file, or y/labels in an .npz)")
    if test_spec is not None:
        size = image_size or (train.image_size[0] if train.image_size[0] == train.image_size[1] else None)
        test = load_source(test_spec, image_size=size, skip_bad=skip_bad)
        return train, _align(train, test, str(test_spec)), f"test split: {test_spec}"
    own = fmt.own_test()
    if own is not None:
        test = read(fmt.load("test"))
        return train, _align(train, test, str(spec)), f"test split: the data set's own ({own})"
    rest, picked = stratified_split(train.labels, holdout, seed)
    note = f"test split: stratified {holdout * 100:g}% held out (seed {seed})"
    return train.subset(rest), train.subset(picked), note
