"""Image folders: `root/<class>/**/*.png`, `root/{train,test}/<class>/...`, or loose images.

Labels come from the first level of subfolders (sorted, so label i is the i-th class
name); a root with `train/` and `test/` subfolders has its own split, with the classes
below each and numbered over both so the two splits agree. Images directly in the root
with no subfolders are unlabeled.

Reading is two passes: the first reads only headers (sizes and colour modes of every
file in the root, both splits) to fix one channel count and one size for the whole
folder; the second decodes each file at that size (``ssrl.data.decode``), either all of
them into one preallocated tensor, so full-size images are never all held at once, or
batch by batch while training when the run streams (``ssrl.data.encoded``).

The working size of a folder whose images do not all share one square size is the most
common size (a non-square image counts by its shorter side; a tie goes to the smaller),
at most ``MAX_MIXED_SIZE``: most images are then read at their own size, never upsampled
(a few odd-sized files must not make a folder of 32 px images cost 4× at 64 px), and a
folder of large photos of many sizes stays affordable. The choice is stated (``notice``).

Only regular files are read: a FIFO or device named like an image, and a
symlink loop, is a bad file (named in an error, or skipped and counted with skip_bad).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ssrl.data.decode import decode_error, header
from ssrl.data.encoded import PROGRESS_OVER, EncodedImages, FileItems
from ssrl.data.source import Source, check_image_size
from ssrl.errors import DataError
from ssrl.notices import interactive, notice

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SPLITS = ("train", "test")
MAX_MIXED_SIZE = 64    # px; the largest working size chosen for images that do not share one square size


@dataclass
class _Layout:
    """The image files of a folder per split ("train"/"test", or "all"), with labels if any."""
    files: dict[str, list[Path]]
    labels: dict[str, list[int]] | None
    classes: list[str] | None


def _image_files(folder: Path, root: Path, extensions=EXTENSIONS) -> list[Path]:
    """Files of `extensions` (images by default) under `folder`, recursively, in sorted order;
    never outside `root`.

    Hidden entries are skipped (e.g. .ipynb_checkpoints); symlinked folders are not
    followed and a symlinked file is kept only if it resolves inside the (resolved) root.
    A symlink loop is kept: it resolves nowhere, and reading it makes it a bad file.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.startswith(".") or path.suffix.lower() not in extensions:
                continue
            if path.is_symlink() and not _resolves_inside(path, root):
                continue
            found.append(path)
    return found


def _resolves_inside(link: Path, root: Path) -> bool:
    """Whether a symlink's target lies inside `root`; a loop counts as inside (it is read, and fails)."""
    try:
        return link.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a symlink loop: RuntimeError before Python 3.13, OSError after
        return True


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def _has_loose_images(folder: Path, extensions=EXTENSIONS) -> bool:
    return any(f.is_file() and f.suffix.lower() in extensions for f in folder.iterdir())


def has_own_split(root: Path) -> bool:
    """Whether the root is split into `train/` and `test/` subfolders."""
    return all((root / s).is_dir() for s in SPLITS)


def _layout(root: Path, extensions=EXTENSIONS) -> _Layout:
    """Which files (of ``extensions``: images by default) belong to which split and class.

    Classes are numbered over both splits, so a class missing from one split does not
    shift the others. Loose images beside class folders make the class structure
    untrustworthy, so such a folder is read as unlabeled.
    """
    real_root = root.resolve()
    tops = {s: root / s for s in SPLITS} if has_own_split(root) else {"all": root}
    by_class = {s: {c.name: _image_files(c, real_root, extensions) for c in _subfolders(top)}
                for s, top in tops.items()}
    classes = sorted({c for found in by_class.values() for c, files in found.items() if files})
    if not classes or any(_has_loose_images(top, extensions) for top in tops.values()):
        return _Layout({s: _image_files(top, real_root, extensions) for s, top in tops.items()}, None, None)
    files, labels = {}, {}
    for s, found in by_class.items():
        pairs = [(f, i) for i, c in enumerate(classes) for f in found.get(c, [])]
        files[s], labels[s] = [f for f, _ in pairs], [i for _, i in pairs]
    return _Layout(files, labels, classes)


class _BadFiles:
    """Files that failed to decode: a DataError at the first one, or with skip=True a list to warn about."""

    def __init__(self, skip: bool):
        self.skip, self.messages = skip, []

    def add(self, path: Path, exc: Exception) -> None:
        error = decode_error(str(path), exc)
        if not self.skip:
            raise error from exc
        self.messages.append(str(error))


def _scan(layout: _Layout, split: str | None, bad: _BadFiles) -> dict[Path, tuple[tuple[int, int], bool]]:
    """First pass: headers of every file in the folder; failures in `split` (None: any) go to `bad`.

    All splits are scanned so that train and test get the same channels and size; a bad
    file in another split is reported when that split is loaded.
    """
    headers = {}
    total = sum(len(files) for files in layout.files.values())
    with tqdm(total=total, desc="reading headers", disable=total <= PROGRESS_OVER or not interactive()) as bar:
        for part, files in layout.files.items():
            for f in files:
                try:
                    headers[f] = header(f)
                except Exception as exc:  # PIL raises many exception types on broken files
                    if split is None or part == split:
                        bad.add(f, exc)
                bar.update()
    return headers


def _most_common_side(sizes: Counter[tuple[int, int]]) -> int:
    """The most common size in a (W, H) -> count histogram; a non-square image counts by its
    shorter side, and a tie goes to the smaller size."""
    sides = Counter()
    for (w, h), count in sizes.items():
        sides[min(w, h)] += count
    return min(sides, key=lambda side: (-sides[side], side))


def working_size(sizes: Counter[tuple[int, int]]) -> int:
    """The size to read a folder at, from its (W, H) -> count histogram: the images' own size if
    they all share one square size; else the most common size (``_most_common_side``), at most
    MAX_MIXED_SIZE. Most images are then never upsampled, and many-sized large photos are not
    read at full size."""
    if not sizes:
        return MAX_MIXED_SIZE  # nothing readable: the caller reports it
    if len(sizes) == 1:
        ((w, h),) = sizes
        if w == h:
            return w
    return min(_most_common_side(sizes), MAX_MIXED_SIZE)


def choose_working_size(where, sizes: Counter[tuple[int, int]]) -> int:
    """``working_size`` of the (W, H) -> count histogram ``sizes`` of the images at ``where`` (a
    folder, shards, a Python object), stated when they are not all one square size."""
    size = working_size(sizes)
    if len(sizes) > 1 or any(w != h for w, h in sizes):
        state_working_size(where, sizes, size)
    return size


def state_working_size(where, sizes: Counter[tuple[int, int]], size: int) -> None:
    """One line naming the folder, the size histogram's top entries and the size chosen from it."""
    top = sorted(sizes.items(), key=lambda item: (-item[1], min(item[0])))
    shown = ", ".join(f"{w}×{h}: {n:,}" for (w, h), n in top[:3]) + (", ..." if len(top) > 3 else "")
    count = f"{len(sizes)} sizes" if len(sizes) > 1 else "one size, not square"
    common = _most_common_side(sizes)
    why = "the most common" if common == size else f"the most common ({common} px) capped at {MAX_MIXED_SIZE} px"
    notice(f"{where}: images of {count} ({shown}); working size {size} px, {why} (--image-size to change)")


def load_folder(root: Path, split: str = "train", image_size: int | None = None, skip_bad: bool = False) -> Source:
    """One split of an image folder (split "train" is the whole folder when it has no own split),
    still encoded: its images are ``EncodedImages`` over the files, decoded when read
    (``ssrl.data.sources`` decodes them all into memory unless the run streams).

    Channels: 3 if any image in the folder has colour (gray images replicated), else 1.
    Size: `image_size`, else the images' own size if they all share one square size,
    else the most common size capped at MAX_MIXED_SIZE (``working_size``, stated with
    ``notice``). A file whose header cannot be read raises DataError, or with skip_bad=True is
    left out and counted (``EncodedImages.skipped``).
    """
    check_image_size(image_size)
    layout = _layout(root)
    key = split if has_own_split(root) else "all" if split == "train" else None
    if key not in layout.files:
        raise DataError(f"{root}: no {split!r} split (an own split needs train/ and test/ subfolders)")
    where = root if key == "all" else root / split
    if not layout.files[key]:
        raise DataError(f"no images found in {where}")

    bad = _BadFiles(skip=skip_bad)
    headers = _scan(layout, key, bad)
    channels = 3 if any(colour for _, colour in headers.values()) else 1
    size = image_size
    if size is None:
        sizes = Counter(wh for wh, _ in headers.values())
        size = choose_working_size(root, sizes)
    keep = [i for i, f in enumerate(layout.files[key]) if f in headers]
    if not keep:
        raise DataError(f"no readable images found in {where}" + (f"; first: {bad.messages[0]}" if bad.messages else ""))
    files = [layout.files[key][i] for i in keep]
    labels = None if layout.labels is None else torch.tensor([layout.labels[key][i] for i in keep])
    images = EncodedImages(FileItems(files), len(files), channels, size, skip_bad)
    images.skipped.extend(bad.messages)
    return Source(images, labels, str(where), layout.classes)
