"""Resumed from every checkpoint a run writes, the run ends with the weights of one that never
stopped: the deterministic counterpart of ``test_kill`` (whose kills land where timing puts
them). A copy of the run folder is taken right after each write of ``last.ckpt`` (every step,
and again at each epoch's end), and each copy is resumed in a process of its own."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

import ssrl
from ssrl import run_files


@pytest.mark.slow
def test_resuming_from_each_checkpoint_gives_the_weights_of_a_run_never_stopped(tmp_path, monkeypatch):
    np.save(tmp_path / "images.npy", np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8))
    copies = tmp_path / "copies"
    save = run_files.AtomicCheckpointIO.save_checkpoint

    def save_and_copy(self, checkpoint, path, storage_options=None):
        save(self, checkpoint, path, storage_options)
        shutil.copytree(Path(path).parent.parent, copies / f"{len(list(copies.glob('*'))) if copies.exists() else 0:03d}")

    monkeypatch.setattr(run_files.AtomicCheckpointIO, "save_checkpoint", save_and_copy)
    whole = ssrl.pretrain(str(tmp_path / "images.npy"), "simclr", out=tmp_path / "whole", epochs=2, batch_size=16,
                          checkpoint_every=1, precision="32-true", progress=False)
    reference = load_file(whole / "backbone.safetensors")
    made = sorted(copies.iterdir())
    assert len(made) == 2 * 4 + 2  # a checkpoint a step, and one at each epoch's end
    for copy in made:
        done = subprocess.run([sys.executable, "-m", "ssrl", "pretrain", "--out", str(copy), "--resume"],
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        ours = load_file(copy / "backbone.safetensors")
        assert all((ours[k] == reference[k]).all() for k in reference), f"resumed from copy {copy.name}: other weights"
