"""Files a run writes while it trains: ``checkpoints/last.ckpt``, written atomically, and
``metrics.csv``, kept across ``--resume`` (and, if asked, TensorBoard, W&B or MLflow logs).

A run resumed from a checkpoint of step G trains steps G, G+1, ... again; the rows a killed run
logged for them after that checkpoint are dropped first (``drop_after``), so ``metrics.csv``
holds each step once, as if the run had never stopped; a row the kill left half-written is cut.
"""

import csv
import errno
import io
import os
from pathlib import Path

import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ssrl.errors import SsrlError
from ssrl.files import write_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint through ``write_atomic`` (a fresh temporary file renamed into place),
    so a run killed mid-write never leaves a truncated ``last.ckpt``, and a link planted at its
    name is replaced rather than written through."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(path, buffer.getvalue())
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            kept = "the previous checkpoint is intact" if Path(path).is_file() else "no checkpoint was kept"
            raise SsrlError(f"{path}: no space left on the device for the checkpoint of step "
                            f"{checkpoint.get('global_step', '?')} ({buffer.tell():,} bytes; it needs that much "
                            f"free beside the previous one); {kept}: free space, then pretrain again with "
                            f"--out {Path(path).parent.parent} --resume") from e


def _write_rows(path: str, header: list[str], rows: list[dict]) -> None:
    """``metrics.csv`` rewritten whole, atomically: a kill mid-write leaves the old file."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def _drop_partial_row(path: str) -> None:
    """Cut a last row that a killed run left half-written (the file does not end with a newline)."""
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        write_atomic(path, data[:data.rfind(b"\n") + 1])


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run appends to it, after
    cutting a row its killed predecessor left half-written. Lightning rewrites the whole file in
    place when a new column appears (at the first epoch's end); here that rewrite is atomic."""

    def _check_log_dir_exists(self) -> None:
        if os.path.islink(self.metrics_file_path):  # appended to in place: never through a planted link
            os.unlink(self.metrics_file_path)
        if os.path.isfile(self.metrics_file_path):
            _drop_partial_row(self.metrics_file_path)
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = csv.DictReader(f).fieldnames or []

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as f:
            rows = list(csv.DictReader(f))
        _write_rows(self.metrics_file_path, fieldnames, rows)


class ResumableCSVLogger(CSVLogger):
    """``metrics.csv`` in the run directory, kept across ``--resume``."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    def drop_after(self, step: int) -> None:
        """Remove the rows of steps ``step`` and later from ``metrics.csv`` (rewritten atomically)."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if not os.path.isfile(path):
            return
        _drop_partial_row(path)
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if not r.get("step") or int(float(r["step"])) < step]
        if len(kept) < len(rows):
            _write_rows(path, header, kept)


LOGGERS = ("tensorboard", "wandb", "mlflow", "csv")  # csv: metrics.csv, always written


def extra_loggers(run_dir: Path, names: list[str]) -> list:
    """Lightning loggers beside ``metrics.csv``, writing into the run directory: ``tensorboard``
    (``RUN/tensorboard/``), ``wandb`` (``RUN/wandb/``; ``WANDB_MODE=offline`` keeps it local),
    ``mlflow`` (a file store in ``RUN/mlruns/``). Each needs its package; an unknown name or a
    missing package is refused before training."""
    from lightning.pytorch import loggers

    unknown = sorted(set(names) - set(LOGGERS))
    if unknown:
        raise SsrlError(f"--logger {unknown[0]}: not a logger (choose from {', '.join(LOGGERS)})")
    made = []
    for name in dict.fromkeys(names):  # once each, in the order given
        try:
            if name == "tensorboard":
                made.append(loggers.TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False))
            elif name == "wandb":
                made.append(loggers.WandbLogger(save_dir=str(run_dir), project="ssrl", name=Path(run_dir).name))
            elif name == "mlflow":
                made.append(loggers.MLFlowLogger(experiment_name="ssrl", run_name=Path(run_dir).name,
                                                 tracking_uri=(Path(run_dir).resolve() / "mlruns").as_uri()))
        except ModuleNotFoundError as e:
            raise SsrlError(f"--logger {name}: {e.name or name} is not installed (pip install {name}, or the "
                            "[loggers] extra)") from e
    return made
