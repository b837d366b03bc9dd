"""``metrics.csv`` as series: what the engine logged, by name, against the training step.

Lightning's CSV logger writes one row per logging event with a column per figure; a figure
logged both per step and per epoch appears twice, as ``NAME_step`` and ``NAME_epoch``, one
logged once per epoch (the kNN monitor, the collapse monitor) under its own name.
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ssrl.errors import SsrlError

INDEX_COLUMNS = ("epoch", "step")


@dataclass
class Series:
    """One logged figure: values against the global step (and the epoch of each value)."""

    steps: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def read_metrics(path: Path) -> dict[str, Series]:
    """Every non-empty column of ``metrics.csv`` as a ``Series``, in column order."""
    series: dict[str, Series] = {}
    try:
        with open(path, newline="") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                try:
                    step, epoch = int(float(row["step"])), int(float(row["epoch"]))
                    for name, text in row.items():
                        if name in INDEX_COLUMNS or name is None or text in ("", None):
                            continue
                        s = series.setdefault(name, Series())
                        s.steps.append(step)
                        s.epochs.append(epoch)
                        s.values.append(float(text))
                except (KeyError, TypeError, ValueError) as e:
                    raise SsrlError(f"{path}, line {line}: not a metrics row ({e})") from e
    except OSError as e:
        raise SsrlError(f"{path}: cannot read ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise SsrlError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from e
    return series


def curves(series: dict[str, Series], exclude: tuple[str, ...] = ()) -> dict[str, dict[str, Series]]:
    """Group columns by figure: ``{"loss": {"step": ..., "epoch": ...}, "knn_top1": {"": ...}}``,
    the loss first, then the others in column order, leaving out names in ``exclude``."""
    grouped: dict[str, dict[str, Series]] = {}
    for name, s in series.items():
        base, kind = name, ""
        for suffix in ("_step", "_epoch"):
            if name.endswith(suffix):
                base, kind = name[: -len(suffix)], suffix[1:]
        if base not in exclude:
            grouped.setdefault(base, {})[kind] = s
    return dict(sorted(grouped.items(), key=lambda item: item[0] != "loss"))


def steps_done(path: Path) -> int | None:
    """Optimizer steps a run logged in ``metrics.csv`` (the last logged step index + 1), or None
    when the file is missing or holds no step."""
    if not Path(path).is_file():
        return None
    steps = [max(s.steps) for s in read_metrics(path).values() if s.steps]
    return max(steps) + 1 if steps else None
