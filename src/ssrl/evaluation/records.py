"""Where evaluation results live: ``RUN/evaluations/<protocol>-<data name>.json`` (and a PNG of
the same stem for plots), so the run report can show every result ``ssrl evaluate`` printed. The
data name carries ``-<label column>`` when one was given, so two labelings of the same data (a
video set's digit and direction) keep a file each."""

import json
import re
from pathlib import Path

from ssrl.files import write_atomic


def evaluation_path(run_dir: str | Path, protocol: str, data: str, suffix: str = ".json") -> Path:
    """``RUN/evaluations/PROTOCOL-NAME.SUFFIX``, NAME the data's file or set name made file-safe."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(data).rstrip("/")).name) or "data"
    return Path(run_dir) / "evaluations" / f"{protocol}-{name}{suffix}"


def save_evaluation(run_dir: str | Path, protocol: str, data: str, result: dict) -> Path:
    """Write ``result`` as JSON into the run's evaluations folder; returns the file."""
    path = evaluation_path(run_dir, protocol, data)
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, json.dumps(result, indent=2) + "\n")
    return path
