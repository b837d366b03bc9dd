"""Fuzzed data files: every loader gives a clean SsrlError naming the file, or a correct load.

Seeded cases over PNG, JPEG, IDX, NPY, NPZ and TSV files: random bytes, truncations, byte
flips, and edits of each format's header (PNG's IHDR with its CRC fixed, JPEG's SOF, IDX's
magic and dimensions, the .npy header dict, the same inside an .npz, TSV rows). Any other
exception, a hang (``deadline``) or a load that breaks a Source's invariants fails the test.
Run with ``pytest -s`` to see the counts.
"""

from __future__ import annotations

import gzip
import io
import struct
import time
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from ssrl.data import load_source
from ssrl.data.source import Source
from ssrl.data.text import TextSource, load_text
from ssrl.errors import SsrlError
from tests.faults.deadline import Hang, deadline

SEED = 22
CASES = 100         # per format in the default run: 600 in all, a few seconds
SLOW_CASES = 2000   # per format under -m slow, cases after the default run's
LIMIT_S = 10        # per case; a load here takes milliseconds
EDGES = [0, 1, 2, 3, 255, 256, 65535, 2**31 - 1, 2**32 - 1]  # header values that break size arithmetic


@dataclass
class Format:
    name: str
    file: str                                  # the fuzzed file's name in the case folder
    make: Callable[[Path, np.random.Generator], None]  # writes the case folder's good files
    load: Callable[[Path], object]             # case folder -> what the loader returns
    edit: Callable[[bytes, np.random.Generator], bytes]  # a header edit that knows the format


# ---- good files -----------------------------------------------------------------------------

def _pixels(rng, shape) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _make_png(folder: Path, rng) -> None:
    kind = rng.integers(4)
    if kind == 3:  # 16 bits per channel
        pixels = rng.integers(0, 65536, (8, 8), dtype=np.uint16)
        Image.frombytes("I;16", (8, 8), pixels.tobytes()).save(folder / "a.png")
        return
    image = Image.fromarray(_pixels(rng, [(8, 8), (8, 8, 3), (8, 8, 4)][kind]))
    image.save(folder / "a.png")


def _make_jpeg(folder: Path, rng) -> None:
    Image.fromarray(_pixels(rng, (16, 16, 3) if rng.random() < 0.5 else (16, 16))).save(folder / "a.jpg", quality=90)


def _idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _make_idx(folder: Path, rng) -> None:
    (folder / "train-images-idx3-ubyte").write_bytes(_idx_bytes(_pixels(rng, (5, 6, 6))))
    (folder / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.arange(5, dtype=np.uint8)))


def _make_npy(folder: Path, rng) -> None:
    x = _pixels(rng, (4, 6, 6))
    x = [x, x.astype(np.float32) / 255, x.astype(np.uint16) * 257, x[..., None].repeat(3, -1)][rng.integers(4)]
    np.save(folder / "x.npy", x)


def _make_npz(folder: Path, rng) -> None:
    save = np.savez_compressed if rng.random() < 0.5 else np.savez
    save(folder / "d.npz", x=_pixels(rng, (4, 6, 6)), y=np.arange(4))


def _make_tsv(folder: Path, rng) -> None:
    rows = ["text\tlabel"] + [f"document {i} caf\u00e9\t{'ab'[i % 2]}" for i in range(int(rng.integers(2, 8)))]
    (folder / "a.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


# ---- format-aware header edits --------------------------------------------------------------

def _edge(rng) -> int:
    return int(rng.choice(EDGES)) if rng.random() < 0.7 else int(rng.integers(0, 2**32))


def _edit_png(data: bytes, rng) -> bytes:
    """IHDR's width, height, bit depth, colour type or interlace, with the chunk's CRC fixed."""
    ihdr = bytearray(data[16:29])  # after the 8-byte signature, IHDR's length and type
    field = rng.integers(5)
    if field < 2:
        ihdr[4 * field:4 * field + 4] = _edge(rng).to_bytes(4, "big")
    else:
        ihdr[6 + field] = int(rng.choice([0, 1, 2, 3, 4, 6, 8, 16, 255]))
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return data[:16] + bytes(ihdr) + crc + data[33:]


def _edit_jpeg(data: bytes, rng) -> bytes:
    """The baseline frame header (SOF0): precision, height, width or component count."""
    at = data.find(b"\xff\xc0")
    if at < 0:
        return data
    sof = bytearray(data)
    field = rng.integers(4)
    if field == 0:
        sof[at + 4] = int(rng.choice([0, 1, 8, 12, 16, 255]))
    elif field < 3:
        sof[at + 3 + 2 * field:at + 5 + 2 * field] = (_edge(rng) & 0xFFFF).to_bytes(2, "big")
    else:
        sof[at + 9] = int(rng.choice([0, 1, 2, 3, 4, 255]))
    return bytes(sof)


def _edit_idx(data: bytes, rng) -> bytes:
    """The dtype code, the number of dimensions or one dimension."""
    edited = bytearray(data)
    field = rng.integers(3)
    if field == 0:
        edited[2] = int(rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0xFF]))
    elif field == 1:
        edited[3] = int(rng.choice([0, 1, 2, 3, 4, 255]))
    else:
        at = 4 + 4 * int(rng.integers(max(edited[3], 1)))
        edited[at:at + 4] = _edge(rng).to_bytes(4, "big")
    return bytes(edited)


def _npy_header_edit(data: bytes, rng) -> bytes:
    """A new header dict (shape, dtype or order edited) in front of the same data."""
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                             else np.lib.format.read_array_header_2_0)(f)
    body, descr = data[f.tell():], np.lib.format.dtype_to_descr(dtype)
    field = rng.integers(3)
    if field == 0:
        shape = list(shape)
        edit = rng.integers(3)
        if edit == 0 and shape:
            shape[rng.integers(len(shape))] = int(rng.choice([0, 1, -1, 2**31, 2**63 - 1, _edge(rng)]))
        elif edit == 1:
            shape.append(int(rng.choice([1, 3, 4, _edge(rng)])))
        else:
            shape = shape[:int(rng.integers(len(shape) + 1))]
        shape = tuple(shape)
    elif field == 1:
        descr = str(rng.choice(["<u2", ">u2", "<i8", "<f4", ">f8", "<f2", "|b1", "<c8", "|O", "<U3", "|V8",
                                "<M8[s]", "|S4", "<zz"]))
    else:
        fortran = not fortran
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return out.getvalue() + body


def _edit_npz(data: bytes, rng) -> bytes:
    """A member's .npy header edited (the zip rebuilt around it), or a zip header field set."""
    if rng.random() < 0.6:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = {info: z.read(info) for info in z.infolist()}
        target = list(members)[int(rng.integers(len(members)))]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for info, content in members.items():
                z.writestr(info, _npy_header_edit(content, rng) if info is target else content)
        return out.getvalue()
    edited = bytearray(data)  # the first local file header: method (8), sizes (18, 22), name length (26)
    at = int(rng.choice([6, 8, 18, 22, 26, 28]))
    edited[at:at + 2] = int(rng.choice([0, 1, 8, 12, 14, 99, 0xFFFF])).to_bytes(2, "little")
    return bytes(edited)


def _edit_tsv(data: bytes, rng) -> bytes:
    """A row with bytes a careless export leaves: bad UTF-8, NULs, extra tabs, quotes, lone CRs."""
    lines = data.split(b"\n")
    at = int(rng.integers(len(lines)))
    junk = [b"\xff\xfe", b"\x00", b"\t\t", b'"', b"\r", b"\xc3", b"\xef\xbb\xbf", b"x" * 200_000, b"\ttoo\tmany"]
    lines[at] = lines[at] + junk[int(rng.integers(len(junk)))] if rng.random() < 0.7 else b""
    return b"\n".join(lines)


# ---- generic mutations ----------------------------------------------------------------------

def _mutate(data: bytes, fmt: Format, rng) -> tuple[str, bytes]:
    kind = ["random bytes", "truncation", "byte flips", "header flips", "header edit", "header edit"][rng.integers(6)]
    if kind == "random bytes":
        keep = int(rng.choice([0, 2, 4, 8, 16]))  # keep the magic sometimes, to get past the first check
        return kind, data[:keep] + rng.bytes(int(rng.integers(0, 2 * len(data) + 1)))
    if kind == "truncation":
        return kind, data[:int(rng.integers(len(data)))]
    edited = bytearray(data)
    if kind in ("byte flips", "header flips"):
        span = len(data) if kind == "byte flips" else min(len(data), 64)
        for at in rng.integers(0, span, int(rng.integers(1, 9))):
            edited[at] = int(rng.integers(256))
        return kind, bytes(edited)
    return kind, fmt.edit(data, rng)


# ---- loads and their checks -----------------------------------------------------------------

def _load_images(folder: Path) -> Source:
    return load_source(str(folder))


def _load_tsv(folder: Path) -> TextSource:
    return load_text(folder / "a.tsv", label_column="label")


def _check_load(result, reference) -> str | None:
    """Why a load is not a correct one, or None; `reference` is the good file's load when the
    case's bytes equal the good file's."""
    if isinstance(result, TextSource):
        if not all(isinstance(t, str) for t in result.texts) or result.labels is None \
                or result.labels.shape != (len(result.texts),):
            return f"a TextSource that breaks its invariants: {result!r:.200}"
        same = reference is None or (result.texts == reference.texts and torch.equal(result.labels, reference.labels))
        return None if same else "the unchanged file loaded to other rows"
    if not isinstance(result, Source):
        return f"returned {type(result).__name__}, not a Source"
    x = result.images
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3) or not x.is_contiguous() or not len(x):
        return f"images {x.dtype} {tuple(x.shape)}"
    if result.labels is not None and (result.labels.shape != (len(x),) or (result.labels < 0).any()):
        return f"labels {tuple(result.labels.shape)} for {len(x)} images"
    if reference is not None and not torch.equal(x, reference.images):
        return "the unchanged file loaded to other pixels"
    return None


def _guarded(load: Callable[[], object]) -> tuple[str, object]:
    """("load", result), ("error", the SsrlError), or ("failure", why): any other exception or a hang."""
    try:
        with deadline(LIMIT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning on edited sizes; skip_bad's warning
            return "load", load()
    except SsrlError as exc:
        return "error", exc
    except Hang:
        return "failure", f"no answer in {LIMIT_S} s"
    except Exception as exc:  # noqa: BLE001 - any other exception type is the failure this test looks for
        return "failure", f"{type(exc).__name__}: {exc}"


FORMATS = [
    Format("png", "a.png", _make_png, _load_images, _edit_png),
    Format("jpeg", "a.jpg", _make_jpeg, _load_images, _edit_jpeg),
    Format("idx", "train-images-idx3-ubyte", _make_idx, _load_images, _edit_idx),
    Format("npy", "x.npy", _make_npy, lambda folder: load_source(str(folder / "x.npy")), _npy_header_edit),
    Format("npz", "d.npz", _make_npz, lambda folder: load_source(str(folder / "d.npz")), _edit_npz),
    Format("tsv", "a.tsv", _make_tsv, _load_tsv, _edit_tsv),
]
IMAGE_FILES = ("png", "jpeg")  # folder formats: a bad file is also tried with skip_bad beside a good one


def _run_case(fmt: Format, case: int, root: Path, outcomes: Counter, failures: list[str]) -> None:
    rng = np.random.default_rng([SEED, case, FORMATS.index(fmt)])
    folder = root / f"{fmt.name}-{case}"
    folder.mkdir()
    fmt.make(folder, rng)
    target = folder / fmt.file
    if fmt.name == "idx" and rng.random() < 0.3:
        target = folder / "train-labels-idx1-ubyte"  # the labels file, sometimes
    good, reference = target.read_bytes(), fmt.load(folder)
    kind, data = _mutate(good, fmt, rng)
    if fmt.name == "idx" and rng.random() < 0.3:  # the gzipped form of the same file
        target.unlink()
        target, data = target.with_name(target.name + ".gz"), gzip.compress(data)
    target.write_bytes(data)
    where = f"{fmt.name} case {case} ({kind}, seed {SEED})"

    outcome, result = _guarded(lambda: fmt.load(folder))
    if outcome == "load":
        why = _check_load(result, reference if data == good else None)
    elif outcome == "error":
        why = None if target.name in str(result) else f"the error does not name {target.name}: {result}"
    else:
        why = result
    if why:
        failures.append(f"{where}: {why}")
        return
    outcomes["correct loads" if outcome == "load" else "clean errors"] += 1
    if outcome == "error" and fmt.name in IMAGE_FILES:  # skip_bad must then load the good file beside it
        Image.fromarray(np.full((8, 8), 7, np.uint8)).save(folder / "good.png")
        outcome, result = _guarded(lambda: load_source(str(folder), skip_bad=True))
        if outcome != "load" or len(result) != 1 or _check_load(result, None):
            failures.append(f"{where}, skip_bad beside a good file: {outcome} {result}")
        else:
            outcomes["skipped with skip_bad"] += 1


def _fuzz(root: Path, cases: range) -> None:
    """Every format over `cases`; prints the counts, then fails listing the first failures."""
    start = time.perf_counter()
    outcomes, failures = {f.name: Counter() for f in FORMATS}, []
    for fmt in FORMATS:
        for case in cases:
            _run_case(fmt, case, root, outcomes[fmt.name], failures)
    total = sum(outcomes.values(), Counter())
    print(f"\nfuzz: {len(FORMATS) * len(cases)} cases in {time.perf_counter() - start:.1f} s, "
          f"{total['clean errors']} clean errors, {total['correct loads']} correct loads, {len(failures)} failures; "
          f"{total['skipped with skip_bad']} bad image files skipped beside a good one with skip_bad")
    for name, counts in outcomes.items():
        print(f"  {name}: {counts['clean errors']} clean errors, {counts['correct loads']} correct loads")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:20])


def test_fuzzed_files_give_a_named_error_or_a_correct_load(tmp_path):
    _fuzz(tmp_path, range(CASES))


@pytest.mark.slow
def test_many_more_fuzzed_files(tmp_path):
    _fuzz(tmp_path, range(CASES, CASES + SLOW_CASES))
