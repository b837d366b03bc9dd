"""``metrics.csv`` across a kill: a row the killed run left half-written is cut before a resumed
run appends (and before it drops the steps it will redo), and Lightning's rewrite of the whole
file when a column appears is atomic, so a kill in the middle of it leaves the old file."""

import csv

import pytest

from ssrl import run_files
from ssrl.run_files import ResumableCSVLogger

HEADER = "epoch,loss_step,step\r\n"


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_half_written_row_is_cut_before_the_resumed_run_appends(tmp_path):
    (tmp_path / "metrics.csv").write_bytes((HEADER + "0,0.9,0\r\n0,0.8,1\r\n0,0.7").encode())  # step 2 cut short
    logger = ResumableCSVLogger(tmp_path, name="", version="")
    logger.log_metrics({"loss_step": 0.6, "epoch": 0}, step=2)
    logger.save()
    assert [(r["step"], r["loss_step"]) for r in _rows(tmp_path / "metrics.csv")] == [("0", "0.9"), ("1", "0.8"),
                                                                                     ("2", "0.6")]


def test_drop_after_cuts_a_half_written_row_too(tmp_path):
    (tmp_path / "metrics.csv").write_bytes((HEADER + "0,0.9,0\r\n0,0.8,1\r\n0,0.7,").encode())  # no step yet
    ResumableCSVLogger(tmp_path, name="", version="").drop_after(1)
    assert [r["step"] for r in _rows(tmp_path / "metrics.csv")] == ["0"]


def test_a_new_column_rewrites_the_file_atomically(tmp_path, monkeypatch):
    logger = ResumableCSVLogger(tmp_path, name="", version="")
    logger.log_metrics({"loss_step": 0.9}, step=0)
    logger.save()
    before = (tmp_path / "metrics.csv").read_bytes()

    def killed(path, data):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(run_files, "write_atomic", killed)
    logger.log_metrics({"loss_step": 0.8, "loss_epoch": 0.85}, step=1)  # a new column: the file is rewritten
    with pytest.raises(KeyboardInterrupt):
        logger.save()
    assert (tmp_path / "metrics.csv").read_bytes() == before
    monkeypatch.undo()
    resumed = ResumableCSVLogger(tmp_path, name="", version="")  # the run, resumed after the kill
    resumed.log_metrics({"loss_step": 0.8, "loss_epoch": 0.85}, step=1)
    resumed.save()
    assert [(r["step"], r["loss_epoch"]) for r in _rows(tmp_path / "metrics.csv")] == [("0", ""), ("1", "0.85")]
