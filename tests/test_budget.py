"""The wall-clock budget of pretraining (``--budget``): parsing, and a run that stops on time."""

import time
from datetime import timedelta

import numpy as np
import torch
import pytest

import ssrl
from ssrl.config import RunConfig, parse_budget
from ssrl.errors import SsrlError
from ssrl.runs import run_config


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1h30m", 5400), ("2.5m", 150), ("45", 45),
                                           (" 1m 5s ", 65)])
def test_budgets_parse_to_durations(text, seconds):
    assert parse_budget(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "ten minutes", "5x", "1m1m", "0s", "-3m"])
def test_bad_budgets_are_refused_when_the_configuration_is_made(text):
    with pytest.raises(SsrlError, match="budget"):
        RunConfig(data="digits", budget=text)


def test_pretraining_stops_when_the_budget_is_spent(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=rng.integers(0, 255, (64, 8, 8), dtype=np.uint8))
    start = time.monotonic()
    run = ssrl.pretrain(str(tmp_path / "x.npz"), "rotation", out=tmp_path / "run", epochs=100_000, batch_size=16,
                        budget="2s", progress=False)
    assert time.monotonic() - start < 20  # 100,000 epochs would take hours
    assert (run / "backbone.safetensors").is_file()
    assert run_config(run).budget == "2s"
    schedule = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["lr_schedulers"][0]
    assert schedule["_last_lr"][0] < 0.05 * schedule["base_lrs"][0]  # annealed by the budget, not by epoch 100,000
