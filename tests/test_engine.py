"""The engine through the public API on tiny data: run directory, determinism, resume."""

import csv

import math

import numpy as np
import pytest
import torch
import torchvision
import yaml
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from ssrl.api import pretrain
from ssrl.engine import EpochBatches, warmup_cosine
from ssrl.errors import SsrlError
from ssrl.runs import load_backbone

TINY = dict(epochs=2, batch_size=32, backbone="convnet-small", log_every_n_steps=1)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """128 random 12×12 grayscale images as .npy (unlabeled)."""
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 256, (128, 12, 12), dtype=np.uint8))
    return str(path)


class Killed(RuntimeError):
    pass


class KillAtEpoch(Callback):
    """Stands in for a kill arriving just after the checkpoint of epoch ``epoch - 1`` was written."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise Killed()


def _weights(run):
    return load_file(run / "backbone.safetensors")


def test_run_directory_contents(tiny_data, tmp_path):
    run = pretrain(tiny_data, "rotation", out=tmp_path / "run", **TINY)
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.ckpt", "backbone.safetensors", "backbone.json"):
        assert (run / name).is_file(), name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["method"] == "rotation" and cfg["in_channels"] == 1 and cfg["image_size"] == 12
    assert cfg["optimizer"] == "sgd" and cfg["lr"] == pytest.approx(0.1 * 32 / 256)
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "loss_step" in header and "pretext_acc_step" in header


def test_same_seed_same_weights_other_seed_other_weights(tiny_data, tmp_path):
    a = _weights(pretrain(tiny_data, "simclr", out=tmp_path / "a", seed=1, **TINY))
    b = _weights(pretrain(tiny_data, "simclr", out=tmp_path / "b", seed=1, **TINY))
    c = _weights(pretrain(tiny_data, "simclr", out=tmp_path / "c", seed=2, **TINY))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("method", ["simclr", "moco_v2"])  # MoCo: EMA target, queue, shuffled BN
def test_killed_and_resumed_run_ends_with_the_same_weights(tiny_data, tmp_path, method):
    whole = _weights(pretrain(tiny_data, method, out=tmp_path / "whole", **TINY))
    with pytest.raises(Killed):
        pretrain(tiny_data, method, out=tmp_path / "killed", callbacks=(KillAtEpoch(1),), **TINY)
    assert (tmp_path / "killed/checkpoints/last.ckpt").is_file()
    assert not (tmp_path / "killed/backbone.safetensors").exists()
    rows_before = (tmp_path / "killed/metrics.csv").read_text().splitlines()
    resumed = _weights(pretrain(out=tmp_path / "killed", resume=True))
    rows_after = (tmp_path / "killed/metrics.csv").read_text().splitlines()
    assert rows_after[1:len(rows_before)] == rows_before[1:]  # the first part's rows are kept
    assert len(rows_after) > len(rows_before)
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=1e-6)


def test_run_warns_when_the_logged_embeddings_collapse(tiny_data, tmp_path, monkeypatch):
    import ssrl.pretext.simsiam

    collapsed = {"embedding_std": torch.tensor(0.0), "effective_rank": torch.tensor(1.0)}
    monkeypatch.setattr(ssrl.pretext.simsiam, "collapse_stats", lambda z: collapsed)
    with pytest.warns(RuntimeWarning, match="epoch 0: the embeddings have collapsed"):
        pretrain(tiny_data, "simsiam", out=tmp_path / "run", **{**TINY, "epochs": 1})


def test_existing_run_needs_resume_and_resume_needs_a_checkpoint(tiny_data, tmp_path):
    pretrain(tiny_data, "rotation", out=tmp_path / "run", **{**TINY, "epochs": 1})
    with pytest.raises(SsrlError, match=r"a run is already there \(.*backbone.safetensors.*\); it is not overwritten"):
        pretrain(tiny_data, "rotation", out=tmp_path / "run", **TINY)
    with pytest.raises(SsrlError, match=r"already finished \(1 epochs\); nothing to resume"):
        pretrain(out=tmp_path / "run", resume=True)
    with pytest.raises(SsrlError, match="no config.yaml"):
        pretrain(out=tmp_path / "nothing", resume=True)
    with pytest.raises(SsrlError, match="cannot change"):
        pretrain(out=tmp_path / "run", resume=True, epochs=5)
    with pytest.raises(SsrlError, match="cannot change the data"):
        pretrain(tiny_data, out=tmp_path / "run", resume=True)
    with pytest.raises(Killed):  # a run with a checkpoint and no backbone yet is resumed, not overwritten
        pretrain(tiny_data, "rotation", out=tmp_path / "killed", callbacks=[KillAtEpoch(1)], **TINY)
    with pytest.raises(SsrlError, match="pass --resume to continue it"):
        pretrain(tiny_data, "rotation", out=tmp_path / "killed", **TINY)
    (tmp_path / "killed" / "checkpoints" / "last.ckpt").write_bytes(b"")  # as a full disk could leave it
    with pytest.raises(SsrlError, match=r"last.ckpt: not a readable checkpoint \(0 bytes"):
        pretrain(out=tmp_path / "killed", resume=True)


def test_epoch_batches_partition_the_global_batch_across_processes():
    n, b, world = 50, 4, 3
    per_rank = [list(EpochBatches(n, b, seed=7, rank=r, world=world)) for r in range(world)]
    assert all(len(batches) == n // (b * world) for batches in per_rank)
    seen = torch.cat([torch.cat(batches) for batches in per_rank])
    assert len(seen) == len(set(seen.tolist())) == (n // (b * world)) * b * world
    one = EpochBatches(n, b * world, seed=7)
    for step, global_batch in enumerate(one):  # the same global batches as one process
        assert torch.equal(torch.cat([per_rank[r][step] for r in range(world)]), global_batch)
    sampler = EpochBatches(n, b, seed=7)
    first = list(sampler)
    sampler.set_epoch(1)
    assert not all(torch.equal(x, y) for x, y in zip(first, sampler))


def test_token_rows_are_batched_by_length_from_the_same_draw():
    n, b, world = 600, 4, 2
    lengths = torch.randint(1, 65, (n,), generator=torch.Generator().manual_seed(0))
    plain = list(EpochBatches(n, b * world, seed=3))
    grouped = list(EpochBatches(n, b * world, seed=3, lengths=lengths))
    assert len(grouped) == len(plain)
    assert sorted(torch.cat(grouped).tolist()) == sorted(torch.cat(plain).tolist())  # the same documents
    spread = [float(lengths[x].max() - lengths[x].min()) for x in grouped]
    assert sum(spread) / len(spread) < 0.25 * sum(float(lengths[x].max() - lengths[x].min()) for x in plain) / len(plain)
    assert all(torch.equal(x, y) for x, y in zip(grouped, EpochBatches(n, b * world, seed=3, lengths=lengths)))
    per_rank = [list(EpochBatches(n, b, seed=3, rank=r, world=world, lengths=lengths)) for r in range(world)]
    for step, global_batch in enumerate(grouped):  # processes still split the one-process global batches
        assert torch.equal(torch.cat([per_rank[r][step] for r in range(world)]), global_batch)
    longest = [int(lengths[x].max()) for x in grouped]
    assert longest != sorted(longest)  # a pool's batches are not taken shortest first


def test_batch_larger_than_data_is_an_error():
    with pytest.raises(SsrlError, match="exceeds"):
        EpochBatches(10, 16, seed=0)


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 4, 20) == pytest.approx(0.25)
    assert warmup_cosine(3, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine(4, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine(12, 4, 20) == pytest.approx(0.5)
    assert warmup_cosine(20, 0, 20) == pytest.approx(0.0)
    assert warmup_cosine(12, 4, 20, time_spent=0.75) == pytest.approx(0.5 * (1 + math.cos(0.75 * math.pi)))
    assert warmup_cosine(12, 4, 20, time_spent=0.1) == pytest.approx(0.5)  # the steps are further along
    assert warmup_cosine(5, 4, 20, time_spent=1.3) == pytest.approx(0.0)   # past the budget: 0, not rising
    assert warmup_cosine(2, 4, 20, time_spent=0.9) == pytest.approx(0.75)  # warm-up is counted in steps


def test_online_knn_monitor_is_logged(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (80, 12, 12), dtype=np.uint8)
    np.savez(tmp_path / "labeled.npz", x=x, y=np.arange(80) % 4)
    run = pretrain(str(tmp_path / "labeled.npz"), "rotation", out=tmp_path / "run",
                   monitor=str(tmp_path / "labeled.npz"), **{**TINY, "batch_size": 16})
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    values = [float(r["knn_top1"]) for r in rows if r.get("knn_top1")]
    assert len(values) == TINY["epochs"] and all(0 <= v <= 1 for v in values)


def test_exported_resnet_loads_into_plain_torchvision(tiny_data, tmp_path):
    run = pretrain(tiny_data, "rotation", out=tmp_path / "run", **{**TINY, "epochs": 1, "backbone": "resnet18"})
    plain = torchvision.models.resnet18()
    plain.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)  # the small-image stem, 1 channel
    plain.maxpool = torch.nn.Identity()
    plain.fc = torch.nn.Identity()
    plain.load_state_dict(load_file(run / "backbone.safetensors"))
    x = torch.rand(3, 1, 12, 12)
    torch.testing.assert_close(plain.eval()(x), load_backbone(run)(x))


def test_the_python_api_in_a_log_file_prints_no_banners_and_no_progress_bars(tiny_data, tmp_path):
    import subprocess
    import sys

    code = (f"import ssrl; ssrl.pretrain({tiny_data!r}, 'simclr', out={str(tmp_path / 'run')!r}, epochs=2, "
            f"batch_size=32)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # stderr: not a terminal
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GPU available" not in done.stderr and "\r" not in done.stderr
    assert "ssrl: epoch 1 of 2 took" in done.stderr  # the per-epoch lines stay


def test_a_budget_alone_ends_the_run_and_its_momentum_schedule(tiny_data, tmp_path, monkeypatch):
    """With --budget and no --epochs the budget is what stops training, and the progress given to
    the method's schedules (BYOL's momentum) follows the time spent, reaching about 1 at the end,
    though the steps done are a tiny part of the epochs planned."""
    from ssrl.config import UNTIL_BUDGET
    from ssrl.pretext.byol import BYOL

    seen = []
    step_hook = BYOL.on_after_optimizer_step
    monkeypatch.setattr(BYOL, "on_after_optimizer_step",
                        lambda self, step, progress: (seen.append((step, progress)), step_hook(self, step, progress)))
    run = pretrain(tiny_data, "byol", out=tmp_path / "run", budget="3s", batch_size=32,
                   backbone="convnet-small", log_every_n_steps=1)
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == UNTIL_BUDGET
    steps = [s for s, _ in seen]
    assert steps == list(range(1, len(seen) + 1)) and len(seen) >= 2
    assert [p for _, p in seen] == sorted(p for _, p in seen)      # it only moves forward
    assert seen[-1][1] > 0.5  # the time spent: the steps done are a millionth of those planned
