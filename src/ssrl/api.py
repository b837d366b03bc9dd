"""The public Python API; the command line (``ssrl.cli``) is a thin layer over it.

``pretrain`` is resolve -> build -> fit -> finish: ``ssrl.resolve`` makes every choice of the run
from the options and the data, ``build`` makes the method (``build_method``), the engine and the
run directory, Lightning fits, ``finish`` saves h_θ and the report. ``evaluate``, ``score``,
``labeled`` and ``embed`` (``ssrl.transfer``) are imported here too. Runs of any modality take the
same path: what differs between images and text is the run's ``Modality`` object
(``ssrl.modality``), never a branch here.
"""

import os
import pickle
import time
import zipfile
from dataclasses import fields, replace
from pathlib import Path

import lightning as L
import torch

from ssrl.backbones.registry import hold_backbone
from ssrl.components.batch_norm import recompute_batch_norm
from ssrl.config import RunConfig, parse_budget
from ssrl.data.encoded import decode_workers
from ssrl.data.objects import as_spec
from ssrl.engine import PretrainModule, make_trainer
from ssrl.errors import SsrlError
from ssrl.notices import launched_as_other_process, notice
from ssrl.pretext import Pretext
from ssrl.report import write_report
from ssrl.resolve import ResolvedRun, method_name, resolve
from ssrl.runs import init_backbone, run_config, save_backbone
from ssrl.seeding import seeded
from ssrl.transfer import embed, evaluate, extraction, fewshot, labeled, score  # noqa: F401  (the public API)
from ssrl.views import Views

WHERE_ONLY = ("accelerator", "devices", "nodes", "workers", "checkpoint_every", "loggers")  # what --resume may change


def pretrain(data=None, method: str | None = None, *, out: str | Path | None = None,
             resume: bool = False, callbacks: tuple = (), progress: bool = True, **options) -> Path:
    """Pretrain a backbone with a pretext method (default: the data's modality's, simclr for
    images, word2vec for text) on unlabeled data; returns the run directory. ``data``: a path, a
    data-set name, or images as a Python object (an array or tensor, a ``Dataset``, a Hugging
    Face ``Dataset``: ``ssrl.data.objects``).

    ``options`` are ``RunConfig`` fields (epochs, batch_size, backbone, seed, lr, params, ...); None
    means "not given". With ``resume=True`` the run in ``out`` continues from
    ``checkpoints/last.ckpt`` with its saved configuration (``options`` may only change where and
    how it runs, not what it computes: accelerator, devices, nodes, workers, and
    ``checkpoint_every``, how often ``last.ckpt`` is written). ``checkpoint_every=N`` writes it
    every N steps as well as at every epoch end; a run resumed from a mid-epoch checkpoint ends
    with the same weights as one that never stopped, but for DeepCluster (``ssrl.engine``).
    """
    run_dir, given, ckpt = _request(data, method, out, resume, options)
    run = resolve(given, run_dir if resume else None)
    module, trainer = build(run, run_dir, callbacks, progress, resume)
    try:
        trainer.fit(module, ckpt_path=ckpt, weights_only=True)
    except torch.distributed.DistStoreError as e:  # the other processes never joined
        raise SsrlError(_not_joined(run.config, e)) from e
    except pickle.UnpicklingError as e:  # weights_only refused an object: not a checkpoint ssrl wrote
        raise SsrlError(f"{ckpt}: holds objects other than tensors and plain values, so it was not a checkpoint "
                        "ssrl wrote; refused unread (loading it could run code)") from e
    except SystemExit:  # Lightning's answer to Ctrl-C, after its graceful shutdown
        if trainer.interrupted and trainer.global_rank == 0 and (run_dir / "checkpoints" / "last.ckpt").is_file():
            notice(f"interrupted; continue with: ssrl pretrain --out {run_dir} --resume")
        raise
    if trainer.global_rank == 0:
        finish(run, module.method, run_dir)
    return run_dir


def _run_files(run_dir: Path) -> list[str]:
    """What makes ``run_dir`` a run a new one must not overwrite: a checkpoint, a backbone, or a
    ``metrics.csv`` with rows. A ``config.yaml`` alone is a run stopped before its first step."""
    metrics = run_dir / "metrics.csv"
    logged = metrics.is_file() and len(metrics.read_bytes().splitlines()) > 1
    return [name for name in ("checkpoints/last.ckpt", "backbone.safetensors") if (run_dir / name).exists()] + \
        (["metrics.csv"] if logged else [])


def _not_joined(cfg: RunConfig, error: Exception) -> str:
    """What each process of a run on several nodes must run, after they failed to meet."""
    env = {k: os.environ.get(k, "unset") for k in ("NODE_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return (f"the {cfg.nodes * cfg.devices} processes of this run did not all start within the rendezvous timeout "
            f"({' '.join(str(error).split())}). Each of the {cfg.nodes} nodes must run the same command with "
            f"MASTER_ADDR and MASTER_PORT set to the first node's address and a free port, and NODE_RANK set to its "
            f"own number, 0 to {cfg.nodes - 1} (this one: {', '.join(f'{k}={v}' for k, v in env.items())}), or "
            "be started by torchrun or srun (README, 'Several GPUs and machines'); $SSRL_RENDEZVOUS_TIMEOUT sets "
            "the wait in seconds")


def _request(data, method, out, resume, options) -> tuple[Path, RunConfig, Path | None]:
    """(run directory, the RunConfig as given, the checkpoint to resume from or None)."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - {f.name for f in fields(RunConfig)} - {"data", "method"})
    if unknown:
        raise SsrlError(f"unknown option(s) {unknown}; options are RunConfig fields")
    if resume:
        if out is None:
            raise SsrlError("--resume needs the run directory (--out RUN_DIR)")
        extra = sorted(set(given) - set(WHERE_ONLY))
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise SsrlError(f"--resume continues the saved configuration; it cannot change {flags} (it may change "
                            f"{', '.join('--' + k.replace('_', '-') for k in WHERE_ONLY)})")
        if data is not None:
            raise SsrlError("--resume continues the saved configuration; it cannot change the data")
        saved = replace(run_config(out), **given)  # a changed option out of range is refused first
        ckpt = Path(out) / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise SsrlError(f"{ckpt}: no checkpoint to resume from")
        if not zipfile.is_zipfile(ckpt):  # torch.save's format; empty or cut short by a full disk
            raise SsrlError(f"{ckpt}: not a readable checkpoint ({ckpt.stat().st_size:,} bytes, truncated or "
                            "corrupt); the run cannot be resumed from it")
        if (Path(out) / "backbone.safetensors").is_file():
            raise SsrlError(f"{out}: already finished ({saved.epochs} epochs{f', max {saved.max_steps} steps' if saved.max_steps else ''}); "
                            "nothing to resume (evaluate it, or pretrain again with another --out)")
        return Path(out), saved, ckpt
    if data is None:
        raise SsrlError("pretrain needs --data")
    data = as_spec(data)  # an array, tensor or Dataset: held in memory
    if isinstance(given.get("backbone"), torch.nn.Module):  # a user's own module: registered by a name
        given["backbone"] = hold_backbone(given["backbone"])
    cfg = RunConfig(data=data, method=method, **given)
    if out is None and (cfg.devices > 1 or cfg.nodes > 1):  # each process would pick its own time stamp
        raise SsrlError("runs on several processes need --out, so that every process uses the same run directory")
    run_dir = Path(out) if out else Path("runs") / f"{method_name(cfg)}-{Path(data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    taken = [] if launched_as_other_process() else _run_files(run_dir)  # (the first process alone decides:
                                                                          # it may have written config.yaml already)
    if taken:
        how = ("pass --resume to continue it" if "checkpoints/last.ckpt" in taken and "backbone.safetensors" not in taken
               else "it is not overwritten")
        raise SsrlError(f"{run_dir}: a run is already there ({', '.join(taken)}); {how}, or choose another --out")
    return run_dir, cfg, None


def build_method(run: ResolvedRun) -> Pretext:
    """The run's method at its initialization: h_θ (``init_backbone``), then k_γ seeded from the
    run's seed; it refuses a backbone or data it cannot train."""
    backbone = init_backbone(run.config)
    with seeded(run.config.seed):
        method = run.method(backbone, run.params, Views(run.views))  # refuses a backbone of the wrong kind
    _check_input_fits(backbone, run)
    return method


def _check_input_fits(backbone: torch.nn.Module, run: ResolvedRun) -> None:
    """Refuse, naming the data, a backbone that cannot take the data's input (images smaller
    than its pooling needs): one forward pass of the modality's example input, before training
    (a modality without one, ``traceable`` not implemented, is not checked)."""
    try:
        module, example, _ = run.modality.traceable(run.config, backbone)
    except NotImplementedError:
        return
    was_training = backbone.training
    try:
        with torch.no_grad():
            module.eval()(example)
    except RuntimeError as e:
        size = f" of {run.config.image_size}×{run.config.image_size} px" if run.config.image_size else ""
        raise SsrlError(f"{run.config.data}: backbone {run.config.backbone} cannot take this data's input{size} "
                        f"({' '.join(str(e).split())}); pass a larger --image-size or another --backbone") from e
    finally:
        backbone.train(was_training)


def build(run: ResolvedRun, run_dir: Path, callbacks: tuple = (), progress: bool = True,
          resume: bool = False) -> tuple[PretrainModule, L.Trainer]:
    """The engine and trainer of a resolved run; writes ``config.yaml`` (and the modality's files,
    a tokenizer) into ``run_dir`` once everything that can refuse the run has accepted it, from
    the process of global rank 0 only (the trainer knows the rank; on several nodes the
    environment of a process may not)."""
    cfg = run.config
    method = build_method(run)
    monitors = [run.modality.monitor(cfg)] if cfg.monitor else []
    max_time = parse_budget(cfg.budget) if cfg.budget else None
    module = PretrainModule(method, run.source.rows, cfg.batch_size, cfg.epochs, run.optimizer, seed=cfg.seed,
                            channels_last=cfg.channels_last, modality=run.modality, labels=run.source.labels,
                            budget_s=max_time.total_seconds() if max_time else None, workers=_workers(cfg, run),
                            compile=bool(cfg.compile))
    trainer = make_trainer(run_dir, cfg.epochs, cfg.accelerator, cfg.devices, cfg.nodes, cfg.precision,
                           cfg.log_every_n_steps, [*monitors, *callbacks], progress, cfg.max_steps, max_time=max_time,
                           checkpoint_every=cfg.checkpoint_every, loggers=cfg.loggers)
    run_dir.mkdir(parents=True, exist_ok=True)
    if trainer.global_rank == 0:
        cfg.to_yaml(run_dir / "config.yaml")
        if not resume:
            (run_dir / "metrics.csv").unlink(missing_ok=True)  # left by a run killed before its first checkpoint
            for name, write in run.source.files.items():
                write(run_dir / name)
    return module, trainer


def _workers(cfg: RunConfig, run: ResolvedRun) -> int:
    """DataLoader workers: as given, else ``decode_workers()`` for images decoded while training
    (a streamed folder or shards) and none for rows in memory (indexing a tensor needs no help)."""
    if cfg.workers is not None:
        return cfg.workers
    return 0 if isinstance(run.source.rows, torch.Tensor) else decode_workers()


def finish(run: ResolvedRun, method: Pretext, run_dir: Path) -> None:
    """After training, on the main process: h_θ saved (BN statistics redone on whole images for
    methods that train on patches), the method's own files, the report."""
    backbone = method.backbone
    if run.method.patch_inputs:
        recompute_batch_norm(backbone, run.source.rows)
    save_backbone(backbone.to(memory_format=torch.contiguous_format), run.config, run_dir)
    method.save_artifacts(run_dir, run.source.rows[:64])
    write_report(run_dir)
