"""``write_atomic``: every file ssrl writes into a run directory goes through it."""

import errno
import os

import pytest

from ssrl.evaluation.records import save_evaluation
from ssrl.files import write_atomic


def test_it_writes_the_data_and_leaves_no_temporary_file(tmp_path):
    write_atomic(tmp_path / "a.json", "{}\n")
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "a.json").read_text() == "{}\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]


def test_a_planted_link_is_replaced_and_its_target_untouched(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    run = tmp_path / "run"
    (run / "evaluations").mkdir(parents=True)
    (run / "evaluations" / "knn-data.json").symlink_to(outside)
    path = save_evaluation(run, "knn", "data", {"top1": 0.5})
    assert outside.read_text() == "keep" and not path.is_symlink() and '"top1": 0.5' in path.read_text()


def test_a_full_disk_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "config.yaml"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
