"""kill -9 at random points of a run, then ``--resume``: the run ends with the weights of one that
never stopped, and its ``metrics.csv`` logs each step once.

A checkpoint is written at every step (``--checkpoint-every 1``), so a kill at a random moment
lands in the middle of a step, of a checkpoint's write, or between its write and its rename as
often as the timing allows; the kill times are seeded, the moments they hit are not, and every
moment must give the same result. One method runs in the default suite; one of each family under
``-m slow``.
"""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

KILLS = 3
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
FAMILIES = ["byol", "vicreg", "rotation", "mae", "swav", "masked_lm"]  # simclr runs in the default suite


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("kill")
    rng = np.random.default_rng(0)
    np.save(root / "images.npy", rng.integers(0, 256, (96, 16, 16), dtype=np.uint8))
    words = "the a dog cat sat ran on under mat tree house river".split()
    (root / "text.txt").write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(96)) + "\n")
    return {"image": str(root / "images.npy"), "text": str(root / "text.txt")}


def _command(*args) -> list[str]:
    return [sys.executable, "-m", "ssrl", *map(str, args)]


def _pretrain(method: str, data: str, out: Path) -> list[str]:
    return _command("pretrain", "--data", data, "--method", method, "--epochs", 3, "--batch-size", 16,
                    "--checkpoint-every", 1, "--precision", "32-true", "--out", out)


def _finish(command: list[str]) -> None:
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _killed(command: list[str], checkpoint: Path, delay: float) -> bool:
    """Run ``command``, kill -9 it ``delay`` s after it has written a checkpoint (or the first
    since the last kill); False if it finished first."""
    seen = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while (not checkpoint.exists() or checkpoint.stat().st_mtime_ns == seen) and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint written in 300 s"
            time.sleep(0.02)
        time.sleep(delay)
        if process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    finally:
        if process.poll() is None:
            process.kill()


def _kill_and_resume(method: str, data: str, tmp_path: Path, seed: int) -> None:
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _finish(_pretrain(method, data, whole))
    draw = random.Random(seed)
    command, kills = _pretrain(method, data, broken), 0
    for _ in range(KILLS):
        if not _killed(command, broken / "checkpoints" / "last.ckpt", draw.uniform(0.0, 1.5)):
            break
        kills += 1
        command = _command("pretrain", "--out", broken, "--resume")
    if not (broken / "backbone.safetensors").exists():
        _finish(command)
    assert kills > 0, "the run finished before the first kill: nothing was tested"
    ours, reference = load_file(broken / "backbone.safetensors"), load_file(whole / "backbone.safetensors")
    assert ours.keys() == reference.keys()
    for key in reference:
        assert (ours[key] == reference[key]).all(), f"{key} differs after {kills} kill(s) and resumes"
    with open(broken / "metrics.csv", newline="") as f:
        steps = [int(float(row["step"])) for row in csv.DictReader(f) if row.get("loss_step")]
    assert len(steps) == len(set(steps)), f"steps logged twice after {kills} kill(s)"


def test_kill_9_at_random_moments_then_resume_gives_the_same_weights(data, tmp_path):
    _kill_and_resume("simclr", data["image"], tmp_path, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("method", FAMILIES)
def test_kill_9_then_resume_for_one_method_of_each_family(data, tmp_path, method):
    modality = "text" if method == "masked_lm" else "image"
    _kill_and_resume(method, data[modality], tmp_path, seed=1)
