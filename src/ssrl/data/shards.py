"""LitData shards of an image folder: ``prepare`` writes them once, ``load_shards`` reads them.

An image folder of a million files is slow to list and to open file by file, and cannot be
handed to several machines as it is. ``prepare`` stores every file's original encoded bytes (no
re-encoding, no loss), its class and its path in LitData's chunked format, one LitData data set
per split of the folder (``all``, or ``train`` and ``test``), in the folder's own order, plus a
manifest, ``ssrl-shards.json``: the classes, and per split the count of images per class and the
histogram of image sizes and whether any has colour (what the working size and channel count are
chosen from, as for the folder, without opening a file). Writing runs in LitData worker
processes with its progress bar and checkpoints; a ``prepare`` that was killed resumes where it
stopped when run again, and the manifest is written last, so shards without one are unfinished.

Reading is by index (``ShardItems``): each process opens the shards itself, and the rows a batch
needs are read from their chunks and decoded as a folder's files are (``EncodedImages``), so the
data order is the sampler's, the same for the folder, its shards and its in-memory copy.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import torch

from ssrl.data.encoded import EncodedImages
from ssrl.data.folder import (
    _BadFiles,
    _layout,
    _scan,
    choose_working_size,
    has_own_split,
)
from ssrl.data.source import Source, check_image_size
from ssrl.errors import DataError
from ssrl.files import write_atomic
from ssrl.notices import notice

MANIFEST = "ssrl-shards.json"
FORMAT = 1


def is_shards(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def _item(entry: tuple[str, int, str]) -> dict:
    """One shard item (runs in LitData's workers). The path is stored as bytes: LitData would
    read a string that names an image file as that file."""
    path, label, name = entry
    return {"image": Path(path).read_bytes(), "label": label, "path": name.encode()}


def prepare(folder: str | Path, out: str | Path, *, workers: int | None = None, skip_bad: bool = False,
            chunk_bytes: str = "64MB") -> Path:
    """Write the shards of image folder ``folder`` into ``out`` (see the module); returns ``out``.

    Every file's header is read first: one that cannot be read stops ``prepare`` with its name,
    or with skip_bad is left out and counted. Files that pass but fail to decode later are named
    when training reads them (or skipped with ``--skip-bad``)."""
    import litdata  # only here: writing shards is the one place it is needed at import

    root, out = Path(folder).expanduser(), Path(out).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (prepare takes an image folder)")
    if is_shards(out):
        done = json.loads((out / MANIFEST).read_text())
        if Path(done["folder"]) != root.resolve():
            raise DataError(f"{out}: already holds the shards of {done['folder']}; choose another --out")
        notice(f"{out}: already prepared from {root} ({_count(done):,} images); nothing to do")
        return out
    layout = _layout(root)
    if not any(layout.files.values()):
        raise DataError(f"no images found in {root}")
    bad = _BadFiles(skip=skip_bad)
    headers = _scan(layout, None, bad)  # a bad header stops (or is counted) whichever split holds it
    splits = {}
    workers = workers or max(1, min(8, (os.cpu_count() or 1)))
    for split, files in layout.files.items():
        labels = layout.labels[split] if layout.labels else [-1] * len(files)
        kept = [(f, label) for f, label in zip(files, labels) if f in headers]
        if not kept:
            continue
        entries = [(str(f), label, str(f.relative_to(root))) for f, label in kept]
        if (out / split / "index.json").is_file():  # LitData writes it last: this split is done
            notice(f"{out / split}: written by an earlier prepare; kept")
        else:
            notice(f"{root}: writing {len(entries):,} images of split {split!r} into {out / split}")
            litdata.optimize(fn=_item, inputs=entries, output_dir=str(out / split), chunk_bytes=chunk_bytes,
                             num_workers=min(workers, len(entries)), reorder_files=False,
                             keep_data_ordered=True, use_checkpoint=True, start_method="fork")
        sizes, per_class = Counter(headers[f][0] for f, _ in kept), Counter(label for _, label in kept)
        splits[split] = {"count": len(kept), "colour": any(headers[f][1] for f, _ in kept),
                         "class_counts": [per_class[i] for i in range(len(layout.classes))] if layout.classes else None,
                         "sizes": [[w, h, n] for (w, h), n in sorted(sizes.items())]}
    manifest = {"format": FORMAT, "folder": str(root.resolve()), "classes": layout.classes,
                "own_split": has_own_split(root), "splits": splits, "skipped": bad.messages}
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    notice(f"{out}: {_count(manifest):,} images prepared" +
           (f"; skipped {len(bad.messages)} unreadable file(s), first: {bad.messages[0]}" if bad.messages else ""))
    return out


def _count(manifest: dict) -> int:
    return sum(s["count"] for s in manifest["splits"].values())


def _manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path / MANIFEST}: cannot read the shards' manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path / MANIFEST}: shards format {manifest.get('format')!r}, this ssrl reads {FORMAT}; "
                        "run `ssrl prepare` again")
    return manifest


def own_test_split(path: Path) -> str | None:
    return "train/ and test/ subfolders" if _manifest(path)["own_split"] else None


class ShardItems:
    """Items of one split's shards, read by index. Each process opens the LitData data set on
    its first read (an open one is not sent to DataLoader workers), deserializing one item per
    read: LitData's default deserializes a window of the chunk's items at once, made for reading
    in order, and a random read then pays for the whole window (BENCHMARKS.md, B3)."""

    def __init__(self, path: Path):
        self.path, self._dataset = path, None

    def __getstate__(self) -> dict:
        return {"path": self.path, "_dataset": None}

    def __call__(self, i: int) -> tuple[bytes, str]:
        if self._dataset is None:
            import litdata

            self._dataset = litdata.StreamingDataset(str(self.path), batch_decode=0)
        item = self._dataset[i]
        return bytes(item["image"]), f"{self.path}: item {i} ({bytes(item['path']).decode()})"


def load_shards(path: Path, split: str = "train", image_size: int | None = None, skip_bad: bool = False) -> Source:
    """One split of prepared shards as a ``Source`` of ``EncodedImages`` (see ``load_folder``:
    the same channels, working size and labels as the folder they were prepared from)."""
    check_image_size(image_size)
    manifest = _manifest(path)
    splits = manifest["splits"]
    key = split if manifest["own_split"] else "all" if split == "train" else None
    if key not in splits:
        raise DataError(f"{path}: no {split!r} split (the folder prepared had no train/ and test/ subfolders)")
    channels = 3 if any(s["colour"] for s in splits.values()) else 1
    size = image_size
    if size is None:
        sizes = Counter()
        for s in splits.values():
            sizes.update({(w, h): n for w, h, n in s["sizes"]})
        size = choose_working_size(path, sizes)
    counts = splits[key]["class_counts"]
    labels = None if counts is None else torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    images = EncodedImages(ShardItems(path / key), splits[key]["count"], channels, size, skip_bad)
    return Source(images, labels, str(path / key), manifest["classes"])
