"""A run whose disk fills up at a checkpoint: on a real, small tmpfs (where this process may mount
one; the patched writer of ``tests/test_files.py`` covers the rest), the run stops with an error
saying so, the previous checkpoint is intact, no temporary file is left, and the run resumed
elsewhere ends with the weights of one that never stopped."""

import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ssrl.api import pretrain
from ssrl.errors import SsrlError

TINY = dict(method="simclr", epochs=2, batch_size=16, precision="32-true", progress=False)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs with room for one checkpoint of the run below and its other files, not two."""
    mount = tmp_path / "disk"
    mount.mkdir()
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True,
                           text=True)
    if tried.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({tried.stderr.strip() or 'mount failed'}); "
                    "tests/test_files.py covers a full disk with a patched writer")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_full_at_a_checkpoint_stops_the_run_and_keeps_the_previous_one(small_disk, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "images.npy"
    np.save(data, rng.integers(0, 256, (64, 16, 16), dtype=np.uint8))
    run = small_disk / "run"
    with pytest.raises(SsrlError, match="no space left on the device for the checkpoint of step 8") as error:
        pretrain(str(data), out=run, **TINY)  # 4 steps an epoch: the second epoch's checkpoint does not fit
    assert "the previous checkpoint is intact" in str(error.value) and "--resume" in str(error.value)
    ckpt = run / "checkpoints" / "last.ckpt"
    assert zipfile.is_zipfile(ckpt) and torch.load(ckpt, weights_only=True)["global_step"] == 4
    assert not [p.name for p in run.rglob("*.tmp")] and not (run / "backbone.safetensors").exists()

    moved = shutil.copytree(run, tmp_path / "moved")  # space found elsewhere
    resumed = load_file(pretrain(out=moved, resume=True, progress=False) / "backbone.safetensors")
    whole = load_file(pretrain(str(data), out=tmp_path / "whole", **TINY) / "backbone.safetensors")
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_the_tmpfs_is_gone_after_the_test(tmp_path):
    assert not Path(tmp_path / "disk").is_mount()
