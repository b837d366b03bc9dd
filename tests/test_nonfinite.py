"""The divergence guard (``ssrl.divergence``): a run that goes to inf or NaN stops at that step with
a message naming it and the likely cause, keeps its last good checkpoint, and never saves NaN
weights; weights that explode while the loss stays finite are warned about."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file, save_file

from ssrl.api import pretrain
from ssrl.config import RunConfig
from ssrl.divergence import DivergedError
from ssrl.errors import SsrlError
from ssrl.runs import init_backbone, load_backbone, save_backbone

TINY = dict(epochs=2, batch_size=16, backbone="convnet-small", progress=False)  # 4 steps an epoch


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """64 random 8×8 grayscale images as .npy."""
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8))
    return str(path)


class Poison(Callback):
    """Sets one weight to NaN at the start of epoch ``epoch`` (or, with ``after_last_step``, after
    the last optimizer step of that epoch, so no loss of that epoch sees it)."""

    def __init__(self, epoch: int, after_last_step: bool = False):
        self.epoch, self.after_last_step = epoch, after_last_step

    def _poison(self, pl_module):
        with torch.no_grad():
            next(pl_module.method.backbone.parameters()).view(-1)[0] = float("nan")

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch and not self.after_last_step:
            self._poison(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and self.after_last_step and batch_idx == trainer.num_training_batches - 1:
            self._poison(pl_module)


class Scale(Callback):
    """Multiplies every convolution weight by ``factor`` after step ``step``: batch norm makes the
    loss blind to it, so only the weight norm shows it."""

    def __init__(self, step: int, factor: float):
        self.step, self.factor = step, factor

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                for m in pl_module.method.backbone.modules():
                    if isinstance(m, torch.nn.Conv2d):
                        m.weight.mul_(self.factor)


def test_the_issue_repro_stops_at_the_first_bad_step_naming_it_and_the_learning_rate(tiny_data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(DivergedError, match=r"diverged at step \d+ \(epoch 1 of 2\)") as info:
        pretrain(tiny_data, "rotation", out=run, optimizer="sgd", lr=1e6, precision="32-true", **TINY)
    message = str(info.value)
    assert "1e+06" in message and "--lr" in message and "--precision" not in message  # fp32: not the precision
    assert isinstance(info.value, SsrlError)  # the CLI prints it as one line
    assert not (run / "backbone.safetensors").exists() and not (run / "checkpoints/last.ckpt").exists()


def test_a_16_bit_run_names_the_precision_too(tiny_data, tmp_path):
    with pytest.raises(DivergedError, match=r"bf16-mixed: try --precision 32-true"):
        pretrain(tiny_data, "rotation", out=tmp_path / "run", optimizer="sgd", lr=1e6, precision="bf16-mixed", **TINY)


def test_the_last_good_checkpoint_is_kept(tiny_data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(DivergedError, match=r"at step 5 \(epoch 2 of 2\): the loss is nan") as info:
        pretrain(tiny_data, "rotation", out=run, callbacks=(Poison(epoch=1),), **TINY)
    assert "last.ckpt, from the end of epoch 1, is the last good checkpoint" in str(info.value)
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert not (run / "backbone.safetensors").exists()


def test_weights_gone_bad_after_an_epochs_last_step_are_not_checkpointed(tiny_data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(DivergedError, match=r"after step 4 \(epoch 1 of 2\): the weights' norm is nan"):
        pretrain(tiny_data, "rotation", out=run, callbacks=(Poison(epoch=0, after_last_step=True),), **TINY)
    assert not (run / "checkpoints/last.ckpt").exists()


def test_exploding_weights_with_a_finite_loss_are_warned_about_once(tiny_data, tmp_path):
    with pytest.warns(RuntimeWarning, match=r"step 3: the weights are exploding") as record:
        pretrain(tiny_data, "rotation", out=tmp_path / "run", callbacks=(Scale(step=2, factor=1e5),), **TINY)
    assert sum("exploding" in str(w.message) for w in record) == 1
    assert (tmp_path / "run/backbone.safetensors").is_file()  # finite weights: a warning, not an error


def test_simclr_adamw_at_lr_1e6_is_warned_about(tiny_data, tmp_path):
    """The issue's case: the weights reach 1e27 while SimCLR's loss (on normalised embeddings) stays finite."""
    with pytest.warns(RuntimeWarning, match="exploding.*1e\\+06 with AdamW"):
        try:
            pretrain(tiny_data, "simclr", out=tmp_path / "run", optimizer="adamw", lr=1e6, **TINY)
        except DivergedError:
            pass  # the weights may also overflow: a stop, after the warning


def test_a_healthy_run_neither_stops_nor_warns(tiny_data, tmp_path):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*exploding.*")
        run = pretrain(tiny_data, "rotation", out=tmp_path / "run", **TINY)
    assert (run / "backbone.safetensors").is_file()


def test_save_backbone_refuses_non_finite_weights(tmp_path):
    cfg = RunConfig(data="x.npy", method="rotation", backbone="convnet-small", modality="image", in_channels=1,
                    image_size=8)
    backbone = init_backbone(cfg)
    with torch.no_grad():
        next(backbone.parameters()).view(-1)[:2] = float("inf")
    with pytest.raises(DivergedError, match=r"not saving backbone.safetensors: 1 of the backbone's \d+ tensors"):
        save_backbone(backbone, cfg, tmp_path)
    assert not (tmp_path / "backbone.safetensors").exists()


@pytest.mark.slow
def test_two_processes_stop_together_on_the_same_step(tiny_data, tmp_path):
    """DDP on CPU: every process sees the verdict (a reduced flag), so none waits for the others."""
    result = subprocess.run([sys.executable, "-m", "ssrl", "pretrain", "--data", tiny_data, "--method", "rotation",
                             "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2", "--batch-size", "16",
                             "--devices", "2", "--accelerator", "cpu", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 1 and "training diverged at step" in result.stderr
    assert not (tmp_path / "run/backbone.safetensors").exists()


def test_a_nan_backbone_saved_before_the_guard_is_refused_on_load(tiny_data, tmp_path):
    run = pretrain(tiny_data, "rotation", out=tmp_path / "run", epochs=1, batch_size=16, progress=False)
    weights = load_file(run / "backbone.safetensors")
    next(t for t in weights.values() if t.is_floating_point()).view(-1)[0] = float("nan")
    save_file(weights, run / "backbone.safetensors")  # as a run saved before the guard could be
    with pytest.raises(DivergedError, match=r"backbone.safetensors: 1 of \d+ tensors hold inf or NaN"):
        load_backbone(run)
