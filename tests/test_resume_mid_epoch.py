"""Mid-epoch checkpoints (``checkpoint_every``) and resume: a run killed just after the checkpoint
of a step inside an epoch and resumed ends with the same weights as one that never stopped, in
one process (with or without loader workers) and in two DDP processes over gloo started as two
"nodes" of one process each; the two processes read disjoint halves of every global batch.

Run as a script (``python test_resume_mid_epoch.py JSON``) this file is one process of a
two-node run: the test starts two of them with ``NODE_RANK`` 0 and 1.
"""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint
from safetensors.torch import load_file

from ssrl.api import pretrain
from ssrl.config import RunConfig
from ssrl.engine import EpochBatches
from ssrl.errors import SsrlError

N, BATCH = 128, 32
TINY = dict(epochs=2, batch_size=BATCH, backbone="convnet-small", log_every_n_steps=1, progress=False)
STEPS = N // BATCH  # steps an epoch


class Killed(RuntimeError):
    pass


class KillAfterStep(Checkpoint):
    """Stands in for a kill arriving just after the checkpoint of step ``step`` was written.

    Lightning runs every ``Checkpoint`` callback after all other callbacks, in the order given;
    the engine's ModelCheckpoints come first, so in ``on_train_batch_end`` this one runs after
    they wrote ``last.ckpt``. Given ``ckpt``, it checks that the file holds that step first."""

    def __init__(self, step: int, ckpt: Path | None):
        self.step, self.ckpt = step, ckpt

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            if self.ckpt is not None:
                saved = torch.load(self.ckpt, map_location="cpu", weights_only=True)
                assert saved["global_step"] == self.step, (saved["global_step"], self.step)
            raise Killed(f"killed after step {self.step}")


class RecordIndices(Callback):
    """Appends each batch's (epoch, batch_idx, global step, sample indices) to ``path``, and
    keeps the loader's number of workers in ``workers``."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.workers = trainer.train_dataloader.num_workers
        with self.path.open("a") as f:
            f.write(json.dumps([trainer.current_epoch, batch_idx, trainer.global_step, batch[1].tolist()]) + "\n")


def _records(path: Path) -> list[list]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "backbone.safetensors")


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """128 random 12×12 grayscale images as .npy: 4 steps an epoch at batch 32."""
    path = tmp_path_factory.mktemp("data") / "tiny.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (N, 12, 12), dtype=np.uint8))
    return str(path)


@pytest.fixture(scope="module")
def whole(tiny_data, tmp_path_factory):
    """The weights of uninterrupted runs, by (method, workers), each trained once."""
    runs = {}

    def get(method: str, workers: int = 0) -> dict:
        if (method, workers) not in runs:
            out = tmp_path_factory.mktemp(f"whole-{method}-{workers}")
            runs[method, workers] = _weights(pretrain(tiny_data, method, out=out / "run", workers=workers, **TINY))
        return runs[method, workers]
    return get


@pytest.mark.parametrize("method, every, kill_at, workers", [
    ("simclr", 2, 6, 0),    # mid second epoch
    ("simclr", 2, 4, 0),    # the last step of the first epoch: a step checkpoint, not the epoch's
    ("byol", 3, 3, 0),      # EMA target; resumed in the first epoch, goes on into the second
    ("moco_v2", 2, 6, 0),   # EMA key encoder, queue, shuffled BN
    ("simclr", 2, 6, 2),    # two loader workers, killed and resumed
])
def test_killed_mid_epoch_and_resumed_run_ends_with_the_same_weights(tiny_data, tmp_path, whole, method, every,
                                                                     kill_at, workers):
    run = tmp_path / "run"
    record = tmp_path / "indices.jsonl"
    with pytest.raises(Killed):
        pretrain(tiny_data, method, out=run, checkpoint_every=every, workers=workers,
                 callbacks=(KillAfterStep(kill_at, run / "checkpoints/last.ckpt"), RecordIndices(record)), **TINY)
    assert not (run / "backbone.safetensors").exists()
    resumed_record = RecordIndices(record)
    resumed = pretrain(out=run, resume=True, callbacks=(resumed_record,))
    assert resumed_record.workers == workers
    _assert_same(_weights(resumed), whole(method))
    # Lightning's batch_idx goes on from the batches trained before the kill, and the resumed
    # run reads the batches the killed one did not, in the order of an uninterrupted run.
    seen = _records(record)
    assert [(e, i, s) for e, i, s, _ in seen] == [(s // STEPS, s % STEPS, s) for s in range(TINY["epochs"] * STEPS)]
    assert [index for *_, index in seen] == [b.tolist() for e in range(TINY["epochs"]) for b in _epoch(e)]


def _epoch(epoch: int) -> EpochBatches:
    sampler = EpochBatches(N, BATCH, seed=0)
    sampler.set_epoch(epoch)
    return sampler


def test_loader_workers_do_not_change_the_weights(whole):
    _assert_same(whole("simclr", 2), whole("simclr", 0))


class KillAtEpochStart(Callback):
    """Stands in for a kill arriving just after the checkpoint of the epoch before ``epoch``."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise Killed()


@pytest.mark.parametrize("method, workers", [
    ("simclr", 2),       # Lightning makes the iterator before it sets the epoch: workers must not start then
    ("deepcluster", 0),  # at an epoch boundary DeepCluster clusters with the same backbone
])
def test_killed_at_an_epoch_boundary_and_resumed_run_ends_with_the_same_weights(tiny_data, tmp_path, whole,
                                                                                method, workers):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        pretrain(tiny_data, method, out=run, workers=workers, callbacks=(KillAtEpochStart(1),), **TINY)
    _assert_same(_weights(pretrain(out=run, resume=True)), whole(method, workers))


def test_deepcluster_resumed_mid_epoch_reclusters_and_finishes(tiny_data, tmp_path):
    """Lightning skips ``on_train_epoch_start`` when it restarts mid-epoch; without the engine's
    call of the method's hook DeepCluster would have no assignments (its weights are not
    compared: it re-clusters with the checkpoint's backbone, see ``ssrl.engine``)."""
    run = tmp_path / "run"
    with pytest.raises(Killed):
        pretrain(tiny_data, "deepcluster", out=run, checkpoint_every=1,
                 callbacks=(KillAfterStep(5, run / "checkpoints/last.ckpt"),), **TINY)
    assert set(_weights(pretrain(out=run, resume=True)))


def test_checkpoint_every_writes_last_ckpt_at_the_step(tiny_data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Killed):
        pretrain(tiny_data, "simclr", out=run, checkpoint_every=3,
                 callbacks=(KillAfterStep(3, run / "checkpoints/last.ckpt"),), **TINY)
    saved = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 3
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 0, "trained": 3}]
    assert not list((run / "checkpoints").glob("*.tmp"))
    plain = tmp_path / "plain"
    with pytest.raises(Killed):  # without it, no checkpoint before the epoch ends
        pretrain(tiny_data, "simclr", out=plain, callbacks=(KillAfterStep(3, None),), **TINY)
    assert not (plain / "checkpoints/last.ckpt").exists()


@pytest.mark.parametrize("option, value", [("checkpoint_every", 0), ("checkpoint_every", -2),
                                           ("checkpoint_every", 1.5), ("checkpoint_every", True),
                                           ("workers", -1), ("workers", 0.5)])
def test_bad_checkpoint_every_and_workers_are_refused(option, value):
    flag = "--" + option.replace("_", "-")
    with pytest.raises(SsrlError, match=f"{flag} {value}: must be a whole number"):
        RunConfig(data="x", **{option: value})


def test_command_line_flags(tiny_data, tmp_path):
    from typer.testing import CliRunner

    from ssrl.cli import app

    for flag, value in (("--checkpoint-every", "0"), ("--workers", "-1")):
        result = CliRunner().invoke(app, ["pretrain", "--data", tiny_data, "--out", str(tmp_path / "run"), flag, value])
        assert isinstance(result.exception, SsrlError) and f"{flag} {value}" in str(result.exception)
    assert RunConfig(data="x", checkpoint_every=5, workers=0).workers == 0


# Two "nodes" of one process each, on this machine: DDP over gloo on the CPU.

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(job: dict, expect: int, timeout: float = 240) -> None:
    """Runs this file as a script in two processes, NODE_RANK 0 and 1 of WORLD_SIZE 2, each with
    ``job``; both must exit with ``expect``. A port taken between probing and binding is retried."""
    for attempt in range(3):
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "GROUP_RANK")}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2", OMP_NUM_THREADS="1")
        procs = [subprocess.Popen([sys.executable, __file__, json.dumps(job)], env={**env, "NODE_RANK": str(rank)},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
        try:
            outputs = [p.communicate(timeout=timeout)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        codes = [p.returncode for p in procs]
        if codes == [expect, expect]:
            return
        if attempt < 2 and any("address already in use" in o.lower() for o in outputs) and not job.get("resume"):
            continue
        raise AssertionError(f"exit codes {codes}, expected {expect}:\n" + "\n----\n".join(o[-4000:] for o in outputs))


def _script(job: dict) -> int:
    rank = int(os.environ["NODE_RANK"])
    out = Path(job["out"])
    callbacks = [RecordIndices(f"{job['record']}.rank{rank}")]
    if job.get("kill"):
        callbacks.append(KillAfterStep(job["kill"], out / "checkpoints/last.ckpt"))
    try:
        if job.get("resume"):
            pretrain(out=out, resume=True, callbacks=callbacks, progress=False)
        else:
            pretrain(job["data"], job["method"], out=out, nodes=2, devices=1, accelerator="cpu",
                     checkpoint_every=job.get("every"), callbacks=callbacks, **TINY)
    except Killed:
        return 3
    return 0


@pytest.fixture(scope="module")
def two_node_run(tiny_data, tmp_path_factory):
    """An uninterrupted two-process simclr run; its directory and per-rank index records."""
    d = tmp_path_factory.mktemp("two-nodes")
    _two_nodes({"data": tiny_data, "method": "simclr", "out": str(d / "run"), "record": str(d / "indices")}, 0)
    return d


def test_two_nodes_read_disjoint_halves_of_every_global_batch(two_node_run):
    ranks = [_records(two_node_run / f"indices.rank{r}") for r in (0, 1)]
    for epoch in range(TINY["epochs"]):
        expected = list(_epoch(epoch))  # the global batches of one process at the whole batch
        for step, global_batch in enumerate(expected):
            halves = [next(index for e, i, _, index in records if (e, i) == (epoch, step)) for records in ranks]
            assert len(halves[0]) == len(halves[1]) == BATCH // 2
            assert not set(halves[0]) & set(halves[1])
            assert halves[0] + halves[1] == global_batch.tolist()
    assert sum(len(records) for records in ranks) == 2 * TINY["epochs"] * STEPS


def test_two_nodes_killed_mid_epoch_and_resumed_end_with_the_same_weights(tiny_data, tmp_path, two_node_run):
    job = {"data": tiny_data, "method": "simclr", "out": str(tmp_path / "run"), "record": str(tmp_path / "indices"),
           "every": 2, "kill": 6}
    _two_nodes(job, 3)
    assert (tmp_path / "run/checkpoints/last.ckpt").is_file()
    _two_nodes({**job, "kill": None, "resume": True}, 0)
    _assert_same(_weights(tmp_path / "run"), _weights(two_node_run / "run"))
    for r in (0, 1):  # each process read, across the kill, what it read without one
        assert _records(tmp_path / f"indices.rank{r}") == _records(two_node_run / f"indices.rank{r}")


if __name__ == "__main__":
    sys.exit(_script(json.loads(sys.argv[1])))


def test_metrics_csv_holds_each_step_once_after_a_mid_epoch_resume(tiny_data, tmp_path):
    """The killed run's metrics.csv holds rows of steps after its last checkpoint (step 3, in the
    first epoch: 8 steps of 16); the resumed run trains those steps again and drops their rows first."""
    run, options = tmp_path / "run", dict(TINY, batch_size=16)
    with pytest.raises(Killed):
        pretrain(tiny_data, "simclr", out=run, checkpoint_every=3, callbacks=(KillAfterStep(5, None),), **options)
    killed = [int(r["step"]) for r in csv.DictReader((run / "metrics.csv").open()) if r.get("loss_step")]
    assert max(killed) >= 3  # rows of steps the resumed run trains again
    pretrain(out=run, resume=True)
    steps = [int(r["step"]) for r in csv.DictReader((run / "metrics.csv").open()) if r.get("loss_step")]
    assert steps == list(range(TINY["epochs"] * N // 16))
