"""Text sources, D_s and D_t: plain text, TSV, CSV and JSON-lines files, gzipped or not.

Plain text (``.txt``) holds one document per line, or, with ``documents="paragraph"``, one
per block of lines separated by blank lines. Tabular files (``.tsv``, ``.csv``, ``.jsonl``)
hold one document per row: ``text_column`` names the text and ``label_column`` the class of a
labeled set. A ``split`` column, where there is one, splits the rows (``train``/``test``).
A malformed row stops the load with an error naming the file and the line. Documents given as
Python objects (``ssrl.data.objects``) are held as rows under a spec string, ``HELD_PREFIX`` + size
and hash, and read as a file's rows are (columns ``text`` and, where given, ``label``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from ssrl.data.split import stratified_split
from ssrl.errors import DataError

SUFFIXES = (".txt", ".tsv", ".csv", ".jsonl")
HELD_PREFIX = "in-memory-text-"
_HELD: dict[str, list[dict]] = {}


@dataclass
class TextSource:
    """An in-memory text data set: D_s (labels None) or D_t (labeled)."""

    texts: list[str]
    labels: torch.Tensor | None     # (N,) int64 or None
    name: str
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index) -> TextSource:
        index = torch.as_tensor(index, dtype=torch.long)
        labels = None if self.labels is None else self.labels[index]
        return TextSource([self.texts[i] for i in index.tolist()], labels, self.name, self.classes)


def text_kind(spec: str | Path) -> str | None:
    """``txt``, ``tsv``, ``csv`` or ``jsonl`` for a path naming a text file (``.gz`` or not),
    ``held`` for documents held in memory, else None."""
    if str(spec).startswith(HELD_PREFIX):
        return "held"
    suffixes = [s.lower() for s in Path(spec).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1][1:] if suffixes and suffixes[-1] in SUFFIXES else None


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped for .gz; a regular file only (reading a FIFO would block)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise DataError(f"{path}: not a regular file")
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: a damaged deflate stream in a .gz
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise DataError(f"{path}: cannot read ({reason})") from e


def _lines(path: Path) -> list[str]:
    """The file's lines as UTF-8, line ends (\\n, \\r\\n or \\r) removed. A byte that is not
    UTF-8 is reported at its own line: the file is decoded whole, where the error offset is exact."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8")  # valid up to the bad byte
        breaks = list(re.finditer(r"\r\n|\r|\n", before))
        column = len(before) - (breaks[-1].end() if breaks else 0) + 1
        raise DataError(f"{path}:{len(breaks) + 1}: cannot decode as UTF-8 (byte 0x{data[e.start]:02x}, "
                        f"column {column})") from e
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]


def _plain(path: Path, documents: str) -> list[dict]:
    if documents not in ("line", "paragraph"):
        raise DataError(f"documents must be 'line' or 'paragraph', got {documents!r}")
    lines = _lines(path)
    if documents == "line":
        return [{"text": line.strip()} for line in lines if line.strip()]
    docs, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            docs.append({"text": " ".join(current)})
            current = []
    return docs


def _delimited(path: Path, delimiter: str) -> list[dict]:
    lines = _lines(path)
    if not lines:
        raise DataError(f"{path}: empty file (expected a header row)")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL  # TSV: quotes are text
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader)
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{reader.line_num}: {len(row)} fields, but the header has {len(header)}")
            rows.append(dict(zip(header, row)))
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: malformed row ({e})") from e
    return rows


def _jsonl(path: Path) -> list[dict]:
    lines = _lines(path)
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}: not valid JSON ({e.msg})") from e
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        rows.append({**row, "_line": number})
    return rows


def hold_rows(texts: list[str], labels: list[str] | None, digest: str) -> str:
    """The spec under which ``texts`` (with ``labels``, if given) are held for this process."""
    spec = f"{HELD_PREFIX}{len(texts)}-{digest[:12]}"
    rows = [{"text": text} for text in texts]
    for row, label in zip(rows, labels or [], strict=labels is not None):
        row["label"] = label
    _HELD[spec] = rows
    return spec


def _rows(path: Path, documents: str) -> list[dict]:
    kind = text_kind(path)
    if kind == "held":
        if str(path) not in _HELD:
            raise DataError(f"{path}: documents that were passed as a Python object to another process; pass "
                            "the object itself again (a path can be read by any process)")
        return _HELD[str(path)]
    if kind == "txt":
        return _plain(path, documents)
    if kind in ("tsv", "csv"):
        return _delimited(path, "\t" if kind == "tsv" else ",")
    if kind == "jsonl":
        return _jsonl(path)
    raise DataError(f"{path}: not a text file (expected {', '.join(SUFFIXES)}, optionally .gz)")


def _column(path: Path, rows: list[dict], column: str, what: str) -> list[str]:
    values = []
    for i, row in enumerate(rows):
        if column not in row:
            where = f"{path}:{row['_line']}" if "_line" in row else str(path)
            known = sorted(k for k in row if k != "_line")
            raise DataError(f"{where}: no {what} column {column!r}; columns: {', '.join(known)}")
        value = row[column]
        if not isinstance(value, (str, int)):
            raise DataError(f"{path}:{row.get('_line', i + 2)}: {what} {column!r} is {type(value).__name__}, not text")
        values.append(str(value))
    return values


def _default_column(path: Path, rows: list[dict], column: str | None) -> str:
    if column is not None:
        return column
    if text_kind(path) in ("txt", "held"):
        return "text"
    for guess in ("text", "gloss", "sentence"):
        if rows and guess in rows[0]:
            return guess
    raise DataError(f"{path}: name the text column (--text-column); columns: "
                    f"{', '.join(sorted(k for k in (rows[0] if rows else {}) if k != '_line'))}")


def has_own_split(spec: str | Path, documents: str = "line") -> bool:
    """True when the file has a ``split`` column with ``test`` rows."""
    if text_kind(spec) == "txt":
        return False
    rows = _rows(Path(spec), documents)
    return any(row.get("split") == "test" for row in rows)


def load_text(spec: str | Path, *, split: str | None = "train", text_column: str | None = None,
              label_column: str | None = None, documents: str = "line",
              classes: list[str] | None = None) -> TextSource:
    """The documents of one split (all rows if the file has no ``split`` column, or split is None).

    With ``label_column`` the labels are indices into ``classes`` (sorted label names unless
    given; a label outside given ``classes`` is an error naming the file).
    """
    path = Path(spec) if text_kind(spec) == "held" else Path(spec).expanduser()
    rows = _rows(path, documents)
    if split is not None and rows and "split" in rows[0]:
        rows = [row for row in rows if row["split"] == split]
    texts = _column(path, rows, _default_column(path, rows, text_column), "text")
    if label_column is None:
        return TextSource(texts, None, str(spec))
    names = _column(path, rows, label_column, "label")
    classes = classes or sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise DataError(f"{path}: labels not in the training data: {', '.join(unknown[:5])}")
    return TextSource(texts, torch.tensor([index[n] for n in names], dtype=torch.long), str(spec), classes)


def _common_classes(train: TextSource, test: TextSource) -> tuple[TextSource, TextSource]:
    """Both sets numbered over the union of their classes (a class seen only in the test set
    stays a class: the classifier cannot predict it, and those documents count as errors)."""
    classes = sorted(set(train.classes) | set(test.classes))

    def renumbered(source: TextSource) -> TextSource:
        index = torch.tensor([classes.index(c) for c in source.classes], dtype=torch.long)
        return TextSource(source.texts, index[source.labels], source.name, classes)

    return renumbered(train), renumbered(test)


def load_text_labeled(spec: str, *, label_column: str, text_column: str | None = None,
                      test_spec: str | None = None, documents: str = "line", seed: int = 0,
                      holdout: float = 0.2) -> tuple[TextSource, TextSource, str]:
    """(train, test, note) of a labeled text set, D_t: ``test_spec``, else the file's own
    ``split`` column, else a stratified ``holdout`` fraction drawn with ``seed``."""
    kwargs = {"text_column": text_column, "label_column": label_column, "documents": documents}
    if test_spec is not None:
        train, test = load_text(spec, split="train", **kwargs), load_text(test_spec, split="test", **kwargs)
        return *_common_classes(train, test), f"test split: {test_spec}"
    if has_own_split(spec, documents):
        train, test = load_text(spec, split="train", **kwargs), load_text(spec, split="test", **kwargs)
        return *_common_classes(train, test), "test split: the data set's own (split column)"
    train = load_text(spec, split=None, **kwargs)
    rest, picked = stratified_split(train.labels, holdout, seed)
    return train.subset(rest), train.subset(picked), f"test split: stratified {holdout * 100:g}% held out (seed {seed})"
