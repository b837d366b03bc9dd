"""The training engine: a Lightning module that runs any pretext method, and the trainer setup.

The engine knows no method and no kind of data by name: it calls ``pseudolabels`` and ``loss``
and the optional hooks, and the modality's ``to_input`` (uint8 images to [0, 1] floats, token ids
as they are) and ``lengths``. Data stays in memory as stored rows and goes to the device a batch
at a time; views are made there, batched, so the input pipeline costs next to nothing (see
BENCHMARKS.md, "Views").

Determinism and resume (``ssrl.seeding``): the data order of an epoch follows from (seed, epoch)
alone, whatever the number of worker processes; the global RNG is re-seeded from (seed, epoch,
rank) before a method's epoch-start hook and from (seed, step, rank) before every step, so the
views of step k do not depend on what ran before. ``checkpoints/last.ckpt`` is written at every
epoch end and, with ``checkpoint_every``, every that many steps; the train loader's state (the
epoch and how many of its batches training consumed, ``EpochLoader``) goes into it, so a run
resumed from any checkpoint, mid-epoch included, goes on with the next batch and ends with the
same weights as one that never stopped (CPU, fixed seed). Lightning does not call
``on_train_epoch_start`` for an epoch it enters mid-way; the engine then calls the method's
epoch-start hook before that epoch's first step. The one known exception is DeepCluster: its
hook re-clusters the data with the backbone it is given, and on a mid-epoch resume that is the
backbone of the checkpoint, not of the epoch's start, so its resumed run goes on with other
targets (resumed at an epoch boundary it matches). A caveat of Lightning's, not of a method:
with ``max_steps`` Lightning resumes an epoch-end checkpoint one batch off (it trains a batch
more in the finished epoch), so such a run matches when its last checkpoint was a step one.

Rows with ``lengths`` (token ids) are batched by length: a text backbone cuts each batch to
its longest document, so similar lengths together save padding. After the first epoch it
trains, the main process states that epoch's time, the throughput and the time left at that pace (``ssrl.notices``), so a schedule that is too long shows early.
Every trainer holds a ``DivergenceGuard`` (``ssrl.divergence``): the first non-finite loss,
gradient or weight stops training before it reaches the weights or ``last.ckpt``.
"""

import atexit
import logging
import math
import os
import time
import warnings
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.strategies import DDPStrategy
from torch import nn
from torch.utils.data import DataLoader, Sampler

from ssrl.collapse import warn_if_collapsed
from ssrl.data.device_decode import EncodedBatch
from ssrl.data.encoded import BatchRows
from ssrl.divergence import DivergenceGuard
from ssrl.errors import DataError, SsrlError
from ssrl.modality import Modality
from ssrl.notices import interactive, notice, quiet_lightning
from ssrl.pretext import OptimizerDefaults, Pretext
from ssrl.run_files import AtomicCheckpointIO, ResumableCSVLogger, extra_loggers
from ssrl.seeding import epoch_seed, step_seed


class EpochBatches(Sampler):
    """Index batches of one process: a fresh permutation per epoch from (seed, epoch), cut into
    global batches of ``batch_size × world``; this process takes its slice of each. The last
    incomplete global batch is dropped so every process sees the same number of steps.

    With ``lengths`` (of token-id rows), each run of ``LENGTH_POOL`` global batches of the
    permutation is sorted by length before it is cut, and those batches are then taken in a
    random order: batches hold documents of similar length, drawn from all over the data.

    Resumable: ``trained`` counts the batches of ``epoch`` that training consumed (the engine sets
    it at each step, so batches prefetched by Lightning or by workers are not counted);
    ``state_dict`` is {epoch, trained}, and after ``load_state_dict`` iterating that epoch leaves
    out its first ``trained`` batches. ``len`` stays the whole epoch's: Lightning counts the
    resumed epoch's ``batch_idx`` on from the batches already trained, up to that length."""

    LENGTH_POOL = 32

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 lengths: torch.Tensor | None = None):
        if n < batch_size * world:
            raise SsrlError(f"batch size {batch_size} × {world} processes exceeds the {n} source images")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.lengths = lengths
        self.epoch = 0
        self.trained = 0  # batches of `epoch` training consumed
        self.skip = 0     # batches of `epoch` an iteration leaves out (loaded: trained before the checkpoint)

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before every epoch
        if epoch != self.epoch:
            self.epoch, self.trained, self.skip = epoch, 0, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "trained": self.trained}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.trained, self.skip = int(state["epoch"]), int(state["trained"]), int(state["trained"])

    def __len__(self) -> int:
        return self.n // (self.batch_size * self.world)

    def __iter__(self):
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch, 0))
        order = torch.randperm(self.n, generator=g)
        if self.lengths is not None:
            order = self._grouped(order, g)
        b = self.batch_size
        for step in range(self.skip, len(self)):
            start = (step * self.world + self.rank) * b
            yield order[start:start + b]

    def _grouped(self, order: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        glob = self.batch_size * self.world
        batches = []
        for pool in order[:len(self) * glob].split(self.LENGTH_POOL * glob):
            batches.extend(pool[torch.argsort(self.lengths[pool], stable=True)].split(glob))
        return torch.cat([batches[i] for i in torch.randperm(len(batches), generator=g)])


class EpochLoader(DataLoader):
    """The train loader over ``EpochBatches`` (``sampler``). Lightning saves ``state_dict`` (the
    sampler's {epoch, trained}) in every checkpoint, and ``PretrainModule.on_load_checkpoint``
    loads it back, so a resumed run goes on with the next batch. The sampler runs in this process whatever
    ``num_workers`` is (workers only fetch the index batches it hands them), so the order is the
    same with or without workers. Iteration starts at the first batch asked for, not at
    ``iter()``: Lightning makes a resumed run's iterator before it sets the epoch, and workers
    would be handed another epoch's indices at once."""

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)

    def __iter__(self):
        return _FromFirstNext(super().__iter__)


class _FromFirstNext:
    """An iterator that calls ``start()`` for its real iterator at the first ``next``."""

    def __init__(self, start):
        self._start, self._it = start, None

    def __iter__(self):
        return self

    def __next__(self):
        if self._it is None:
            self._it = self._start()
        return next(self._it)


class PretrainModule(L.LightningModule):
    """Runs a pretext method: ``loss, logs = method.loss(*method.pseudolabels(x, index))`` with
    ``x = modality.to_input(rows)``, on the stored rows of D_s (``labels``: for monitoring only);
    ``workers``: DataLoader worker processes (0: batches are indexed in the training process)."""

    def __init__(self, method: Pretext, images: torch.Tensor, batch_size: int, epochs: int,
                 optim: OptimizerDefaults, *, seed: int, channels_last: bool, modality: Modality,
                 labels: torch.Tensor | None = None, budget_s: float | None = None, workers: int = 0,
                 compile: bool = False):
        super().__init__()
        self.method, self.modality = method, modality
        self.images, self.labels, self.batch_size, self.epochs = images, labels, batch_size, epochs
        self.optim, self.seed, self.budget_s, self.workers = optim, seed, budget_s, workers
        self._first_epoch: tuple[float, int] | None = None  # (perf_counter, global_step) at its start
        self._paced = False
        self._batches: EpochBatches | None = None  # the train loader's sampler
        self._batches_state: dict | None = None    # its state in the checkpoint resumed from
        self._epoch_started: int | None = None     # the epoch whose method hook ran last
        self._skipped: dict[str, None] = {}        # unreadable files skipped in this process (skip_bad), in order
        if channels_last:
            method.to(memory_format=torch.channels_last)
            method.backbone.register_forward_pre_hook(
                lambda _, args: (args[0].contiguous(memory_format=torch.channels_last), *args[1:]))
        if compile:  # in place: parameters and state-dict keys stay the eager module's (ssrl.compiled)
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime" on CPUs
            for module in (method.backbone, getattr(method, "head", None)):
                if isinstance(module, nn.Module):
                    module.compile()

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size
        if self.batch_size % world:
            raise SsrlError(f"batch size {self.batch_size} is not divisible by {world} processes")
        self._batches = EpochBatches(len(self.images), self.batch_size // world, self.seed, self.global_rank, world,
                                     lengths=self.modality.lengths(self.images))
        if self._batches_state is not None:
            self._batches.load_state_dict(self._batches_state)
        # A generator of its own keeps the loader (and its workers' seeds) off the global RNG.
        return EpochLoader(BatchRows(self.images), sampler=self._batches, batch_size=None,
                           num_workers=self.workers, persistent_workers=self.workers > 0,
                           pin_memory=torch.cuda.is_available(), generator=torch.Generator().manual_seed(self.seed))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """The train loader's state as Lightning saved it (``EpochLoader``). Lightning loads it
        only into a loader it makes after restoring the checkpoint, but ``configure_optimizers``
        (``estimated_stepping_batches``) has it make the loader before, so the engine loads it."""
        if self.trainer.is_global_zero and isinstance(self.trainer.logger, ResumableCSVLogger):
            self.trainer.logger.drop_after(checkpoint["global_step"])  # the killed run's rows of steps to redo
        states = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {}).get("combined_loader")
        self._batches_state = states[0] if states else None
        if self._batches is not None and self._batches_state is not None:
            self._batches.load_state_dict(self._batches_state)

    def on_train_epoch_start(self) -> None:
        if self._first_epoch is None:
            self._first_epoch = (time.perf_counter(), self.global_step)
        self._start_epoch()

    def _start_epoch(self) -> None:
        """The method's epoch-start hook, after seeding the global RNG from (seed, epoch, rank)."""
        self._epoch_started = self.current_epoch
        torch.manual_seed(epoch_seed(self.seed, self.current_epoch, self.global_rank + 1))
        figures = self.method.on_train_epoch_start(self.current_epoch, self.images, self.labels)
        for name, value in (figures or {}).items():
            self.log(name, value, on_step=False, on_epoch=True)

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if self._epoch_started != self.current_epoch:  # entered mid-way: resumed from a mid-epoch checkpoint
            self._start_epoch()
        torch.manual_seed(step_seed(self.seed, self.global_step, self.global_rank + 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self._batches is not None:  # what this step's checkpoint records as trained
            self._batches.trained = batch_idx + 1
        rows, index, skipped = batch
        if isinstance(rows, DataError):
            raise rows
        if isinstance(rows, EncodedBatch):
            rows, skipped = rows.decode(self.device)
        self._skipped.update(dict.fromkeys(skipped))
        x = self.modality.to_input(rows)
        inputs, z = self.method.pseudolabels(x, index)
        loss, logs = self.method.loss(inputs, z)
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        for name, value in logs.items():
            self.log(name, value, on_step=True, on_epoch=True, sync_dist=True)
        return loss

    def on_train_end(self) -> None:
        if self._skipped:
            warnings.warn(f"skipped {len(self._skipped)} unreadable image file(s) while training (--skip-bad)"
                          f"{' on process ' + str(self.global_rank) if self.trainer.world_size > 1 else ''}; "
                          f"first: {next(iter(self._skipped))}", stacklevel=2)

    def on_train_epoch_end(self) -> None:
        self._state_pace()
        metrics = self.trainer.callback_metrics
        if "embedding_std_epoch" in metrics:
            rank = metrics.get("effective_rank_epoch")
            ceiling = metrics.get("rank_ceiling_epoch")
            warn_if_collapsed(float(metrics["embedding_std_epoch"]), None if rank is None else float(rank),
                              self.current_epoch, None if ceiling is None else float(ceiling))

    def _state_pace(self) -> None:
        """After the first epoch this process trains (rank 0 only): its time, the throughput, and
        the time left at that pace (to the last step, or the end of the budget if that comes first)."""
        if self._paced or self._first_epoch is None or self.global_rank != 0:
            return
        self._paced = True
        start, first_step = self._first_epoch
        seconds, steps = time.perf_counter() - start, self.global_step - first_step
        if steps <= 0 or seconds <= 0:
            return
        left = max(0, int(self.trainer.estimated_stepping_batches) - self.global_step) * seconds / steps
        budget_left = self.budget_s * max(0.0, 1 - self.budget_spent()) if self.budget_s else math.inf
        of = f" of {self.trainer.max_epochs:,}" if left <= budget_left else ""  # the budget ends it first
        line = (f"epoch {self.current_epoch + 1}{of} took {seconds:.1f} s "
                f"({steps * self.batch_size / seconds:,.0f} {self.modality.unit}/s)")
        left = min(left, budget_left)
        notice(line + (f"; about {_duration(left)} to go" + ("" if of else " (--budget)") if left > 0 else ""))

    def optimizer_step(self, *args, **kwargs) -> None:
        """The optimizer's step, then the method's (EMA targets, prototypes), given the number of
        steps done: both before the callbacks' ``on_train_batch_end``, where the step checkpoint
        is written (Lightning counts the step in ``global_step`` only after this hook)."""
        super().optimizer_step(*args, **kwargs)
        step = self.global_step + 1
        self.method.on_after_optimizer_step(step, self.progress(step))

    def progress(self, step: int) -> float:
        """The fraction of training done after ``step`` optimizer steps: of the planned steps, or
        of the wall-clock budget where that is further along."""
        return min(1.0, max(step / max(1, self.trainer.estimated_stepping_batches), self.budget_spent()))

    def configure_optimizers(self):
        o = self.optim
        trained = [p for p in self.parameters() if p.requires_grad]  # not EMA targets
        decay = [p for p in trained if p.ndim > 1]
        no_decay = [p for p in trained if p.ndim <= 1]  # biases and norms: no decay
        groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if o.name == "sgd":
            opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum)
        elif o.name == "adamw":
            opt = torch.optim.AdamW(groups, lr=o.lr)
        else:
            raise SsrlError(f"unknown optimizer {o.name!r}; choose sgd or adamw")
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = len(self.images) // self.batch_size  # steps, as EpochBatches cuts them
        warmup = int(o.warmup_epochs * (self.epochs * per_epoch) / max(1, self.epochs))  # also when max_steps ends the run early
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, warmup, total, self.budget_spent()))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def budget_spent(self) -> float:
        """The fraction of the wall-clock budget (``budget_s``) spent training so far (resumed runs
        included: Lightning's Timer keeps its count in the checkpoint); 0 without a budget."""
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None) if self.budget_s else None
        return 0.0 if timer is None else timer.time_elapsed("train") / self.budget_s


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def warmup_cosine(step: int, warmup: int, total: int, time_spent: float = 0.0) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at step
    ``total``, or sooner when ``time_spent`` (the fraction of a wall-clock budget used) is further
    along: a run stopped by its budget still anneals."""
    if step < warmup:
        return (step + 1) / warmup
    done = max((step - warmup) / max(1, total - warmup), time_spent)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def _destroy_process_group() -> None:
    """At exit. Lightning destroys NCCL process groups then but not gloo ones (CPU), and a gloo
    group left to the interpreter's shutdown can abort the process ("terminate called without
    an active exception") after training went well."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


RENDEZVOUS_S = 600  # default: how long the processes of a run wait for one another


def rendezvous_timeout() -> timedelta:
    """How long a process of a multi-process run waits for the others to join (and, after that,
    at any collective operation): ``$SSRL_RENDEZVOUS_TIMEOUT`` seconds, else ``RENDEZVOUS_S``."""
    return timedelta(seconds=float(os.environ.get("SSRL_RENDEZVOUS_TIMEOUT", RENDEZVOUS_S)))


def make_trainer(run_dir: Path, epochs: int, accelerator: str, devices: int, nodes: int,
                 precision: str, log_every_n_steps: int, callbacks: list[Callback] = (),
                 progress: bool = True, max_steps: int | None = None,
                 max_time: timedelta | None = None, checkpoint_every: int | None = None,
                 loggers: list[str] = ()) -> L.Trainer:
    """A Lightning trainer writing ``metrics.csv`` and ``checkpoints/last.ckpt`` into ``run_dir``;
    ``max_steps`` stops training (and ends the learning-rate schedule) before ``epochs`` is done;
    ``max_time`` stops it after that much wall-clock time (``PretrainModule`` given the same
    budget anneals its learning rate by then). A ``DivergenceGuard`` stops training at the first
    non-finite loss, gradient or weight. ``last.ckpt`` is written at every epoch end and, with
    ``checkpoint_every``, also every that many steps (a second ModelCheckpoint: Lightning takes
    epochs or steps per callback, not both); each write replaces it atomically. ``loggers``:
    TensorBoard, W&B or MLflow beside ``metrics.csv`` (``extra_loggers``)."""
    quiet_lightning()
    progress = progress and interactive()
    checkpoints = [ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", save_top_k=1,
                                   enable_version_counter=False, **when)
                   for when in [{"every_n_epochs": 1}] + ([{"every_n_train_steps": checkpoint_every}]
                                                          if checkpoint_every else [])]
    distributed = devices > 1 or nodes > 1
    if distributed:  # once, however many trainers this process makes
        atexit.unregister(_destroy_process_group)
        atexit.register(_destroy_process_group)
    return L.Trainer(
        max_epochs=epochs, max_steps=max_steps or -1, max_time=max_time, accelerator=accelerator, devices=devices, num_nodes=nodes, precision=precision,
        strategy=DDPStrategy(timeout=rendezvous_timeout()) if distributed else "auto", use_distributed_sampler=False,
        logger=[ResumableCSVLogger(run_dir, name="", version=""), *extra_loggers(run_dir, loggers)],
        callbacks=[*checkpoints, DivergenceGuard(), *callbacks, *([TQDMProgressBar()] if progress else [])],  # tqdm: on stderr
        enable_progress_bar=progress,
        plugins=[AtomicCheckpointIO()], log_every_n_steps=log_every_n_steps,
        enable_model_summary=False, num_sanity_val_steps=0,
    )
