"""Numeric options are checked at the API and command-line boundary: a value outside its range
is a one-line ``SsrlError`` saying the range, before anything runs or is written; so is data
with no images or images too small to be images."""

import sys

import numpy as np
import pytest

from ssrl.api import pretrain
from ssrl.cli import run as cli_run
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.evaluation.fewshot import TrainBudget
from ssrl.evaluation.options import check_evaluation_options


def cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    """Run the ``ssrl`` entry point in this process: (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["ssrl", *args])
    with pytest.raises(SystemExit) as info:
        cli_run()
    return info.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8))
    return str(path)


@pytest.mark.parametrize("option, value, message", [
    ("epochs", 0, "--epochs 0: must be a whole number of at least 1"),
    ("epochs", -1, "--epochs -1: must be a whole number of at least 1"),
    ("epochs", 2.5, "--epochs 2.5: must be a whole number"),
    ("limit", 0, "--limit 0: must be a whole number of at least 1"),
    ("limit", -5, "--limit -5"),
    ("max_steps", 0, "--max-steps 0: must be a whole number of at least 1"),
    ("batch_size", 0, "--batch-size 0: must be a whole number of at least 1"),
    ("batch_size", -4, "--batch-size -4"),
    ("devices", 0, "--devices 0: must be a whole number of at least 1"),
    ("nodes", -1, "--nodes -1"),
    ("log_every_n_steps", 0, "--log-every-n-steps 0"),
    ("image_size", 1, r"image size 1×1 is too small; images must be at least 2×2 pixels"),
    ("image_size", 0, r"image size 0×0 is too small"),
    ("lr", 0.0, r"--lr 0.0: must be a finite number > 0"),
    ("lr", -0.1, r"--lr -0.1: must be a finite number > 0"),
    ("lr", float("nan"), r"--lr nan: must be a finite number > 0"),
    ("lr", float("inf"), r"--lr inf"),
    ("weight_decay", -1e-4, r"--weight-decay -0.0001: must be a finite number ≥ 0"),
    ("warmup_epochs", -1.0, r"--warmup-epochs -1.0: must be a finite number ≥ 0"),
])
def test_run_options_out_of_range_are_refused_with_the_range(option, value, message):
    with pytest.raises(SsrlError, match=message):
        RunConfig(data="x.npy", **{option: value})


def test_options_in_range_pass():
    RunConfig(data="x.npy", epochs=1, limit=1, max_steps=1, batch_size=1, devices=1, nodes=1, log_every_n_steps=1,
              image_size=2, lr=1e-9, weight_decay=0.0, warmup_epochs=0, budget="1s")
    RunConfig(data="x.npy", epochs=np.int64(3), lr=np.float32(0.1))  # NumPy numbers from a sweep


def test_the_api_refuses_before_writing_anything(tiny_data, tmp_path):
    with pytest.raises(SsrlError, match="--epochs 0"):
        pretrain(tiny_data, "rotation", out=tmp_path / "run", epochs=0)
    assert not (tmp_path / "run").exists()


def test_a_resume_cannot_bring_in_a_bad_value(tiny_data, tmp_path):
    run = pretrain(tiny_data, "rotation", out=tmp_path / "run", epochs=1, batch_size=16, progress=False)
    with pytest.raises(SsrlError, match="--devices 0"):
        pretrain(out=run, resume=True, devices=0)


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs 0: must be a whole number of at least 1"),
    (["--limit", "0"], "--limit 0"),
    (["--max-steps", "0"], "--max-steps 0"),
    (["--batch-size", "-4"], "--batch-size -4"),
    (["--image-size", "1"], "image size 1×1 is too small"),
    (["--lr", "0"], "--lr 0.0: must be a finite number > 0"),
])
def test_the_cli_prints_one_line_and_exits_1(monkeypatch, capsys, tiny_data, tmp_path, args, message):
    status, err = cli(monkeypatch, capsys, "pretrain", "--data", tiny_data, "--method", "rotation",
                      "--out", str(tmp_path / "run"), *args)
    assert status == 1 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--k", "0"], "--k 0: must be a whole number of at least 1"),
    (["--k", "-3"], "--k -3"),
    (["--label-fraction", "0"], "--label-fraction 0.0: must be a fraction in (0, 1]"),
    (["--label-fraction", "1.5"], "--label-fraction 1.5: must be a fraction in (0, 1]"),
    (["--protocol", "fewshot", "--label-fractions", "0.1,2"], "--label-fractions 2.0"),
    (["--protocol", "fewshot", "--per-class", "0"], "--per-class 0"),
    (["--protocol", "fewshot", "--draws", "0"], "--draws 0"),
    (["--protocol", "finetune", "--epochs", "0"], "--epochs 0"),
    (["--protocol", "finetune", "--lr-head", "0"], "--lr-head 0.0: must be a finite number > 0"),
])
def test_evaluate_options_are_refused_before_the_run_is_read(monkeypatch, capsys, tmp_path, args, message):
    status, err = cli(monkeypatch, capsys, "evaluate", str(tmp_path / "no-run"), "--data", "digits", *args)
    assert status == 1 and message in err and len(err.strip().splitlines()) == 1


def test_evaluation_options_in_range_pass():
    check_evaluation_options(k=1, label_fraction=1.0, label_fractions=[0.01, 1], per_class=[1, 5], draws=1,
                             budget=TrainBudget(epochs=1, batch_size=1, lr_backbone=0.0))


def test_similar_refuses_k_0(monkeypatch, capsys, tmp_path):
    status, err = cli(monkeypatch, capsys, "similar", str(tmp_path), "word", "--k", "0")
    assert status == 1 and "--k 0: must be a whole number of at least 1" in err


@pytest.mark.parametrize("shape", [(0, 28, 28), (0, 8, 8, 3), (16, 0, 8)])
def test_an_empty_array_is_named(tmp_path, shape):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros(shape, dtype=np.uint8))
    with pytest.raises(SsrlError, match=rf"empty.npy: no images: the array has shape \({shape[0]}, {shape[1]}"):
        pretrain(str(path), "rotation", out=tmp_path / "run")


def test_an_empty_npz_is_named(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, x=np.zeros((0, 8, 8), dtype=np.uint8), y=np.zeros(0, dtype=np.int64))
    with pytest.raises(SsrlError, match=r"empty.npz \[x\]: no images"):
        pretrain(str(path), "rotation", out=tmp_path / "run")


def test_one_pixel_images_are_named(tmp_path):
    path = tmp_path / "dots.npy"
    np.save(path, np.zeros((64, 1, 1), dtype=np.uint8))
    with pytest.raises(SsrlError, match=r"dots.npy: image size 1×1 is too small"):
        pretrain(str(path), "rotation", out=tmp_path / "run", batch_size=16)


def test_the_api_refuses_evaluation_options_before_reading_the_run(tmp_path):
    from ssrl.api import evaluate, fewshot
    with pytest.raises(SsrlError, match="--k 0: must be"):
        evaluate(tmp_path / "no-run", "digits", "knn", k=0)
    with pytest.raises(SsrlError, match="--draws 0: must be"):
        fewshot(tmp_path / "no-run", "digits", draws=0)


@pytest.mark.parametrize("side", [2, 3])
def test_images_too_small_for_the_backbone_are_refused_naming_the_data(tmp_path, side):
    data = tmp_path / f"tiny{side}.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (64, side, side), dtype=np.uint8))
    with pytest.raises(SsrlError, match=rf"tiny{side}.npy: backbone convnet-small cannot take this data's input "
                                        rf"of {side}×{side} px .*pass a larger --image-size"):
        pretrain(str(data), "simclr", out=tmp_path / "run", epochs=1, progress=False)
    assert not (tmp_path / "run").exists()
    pretrain(str(data), "simclr", out=tmp_path / "run", epochs=1, image_size=16, progress=False)
