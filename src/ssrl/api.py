"""The public Python API; the command line (``ssrl.cli``) is a thin layer over it.

``pretrain`` is resolve -> build -> fit -> finish: ``ssrl.resolve`` makes every choice of the run
from the options and the data, ``build`` makes the method (``build_method``), the engine and the
run directory, Lightning fits, ``finish`` saves h_θ and the report. ``evaluate``, ``score`` and
``embed`` take runs of any modality: what differs between images and text is the run's
``Modality`` object (``ssrl.modality``), never a branch here.
"""

import os
import pickle
import time
import zipfile
from dataclasses import asdict, fields, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ssrl.components.batch_norm import recompute_batch_norm
from ssrl.config import RunConfig, parse_budget
from ssrl.data.encoded import decode_workers
from ssrl.data.split import keep_label_fraction
from ssrl.engine import PretrainModule, make_trainer
from ssrl.errors import SsrlError
from ssrl.evaluation import PROTOCOLS, extract_features
from ssrl.evaluation.features import FLOAT32, Extraction
from ssrl.evaluation.fewshot import Setting, TrainBudget, fewshot_point
from ssrl.evaluation.finetune import finetune_predict
from ssrl.evaluation.metrics import classification_metrics, few_classes_warning, is_unbalanced
from ssrl.evaluation.protocols import FROZEN, frozen_scores, num_classes
from ssrl.evaluation.label_efficiency import plot_label_efficiency
from ssrl.evaluation.options import check_evaluation_options
from ssrl.evaluation.records import evaluation_path, save_evaluation
from ssrl.files import save_atomic
from ssrl.modality import MODALITIES, Modality, Rows, get_modality
from ssrl.notices import launched_as_other_process, notice
from ssrl.pretext import Pretext
from ssrl.report import write_report
from ssrl.report.verdict import verdict
from ssrl.resolve import ResolvedRun, method_name, resolve
from ssrl.runs import init_backbone, load_backbone, run_config, save_backbone
from ssrl.seeding import seeded
from ssrl.views import Views

WHERE_ONLY = ("accelerator", "devices", "nodes", "workers", "checkpoint_every")  # what --resume may change


def pretrain(data: str | None = None, method: str | None = None, *, out: str | Path | None = None,
             resume: bool = False, callbacks: tuple = (), progress: bool = True, **options) -> Path:
    """Pretrain a backbone with a pretext method (default: the data's modality's, simclr for
    images, word2vec for text) on unlabeled data; returns the run directory.

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
                            budget_s=max_time.total_seconds() if max_time else None, workers=_workers(cfg, run))
    trainer = make_trainer(run_dir, cfg.epochs, cfg.accelerator, cfg.devices, cfg.nodes, cfg.precision,
                           cfg.log_every_n_steps, [*monitors, *callbacks], progress, cfg.max_steps, max_time=max_time,
                           checkpoint_every=cfg.checkpoint_every)
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


def score(backbone: torch.nn.Module, train: Rows, test: Rows, protocols=("knn", "linear"), k: int | None = None,
          temperature: float = 0.1, seed: int = 0, progress: bool = False, budget: TrainBudget | None = None,
          augment: torch.nn.Module | None = None, how: Extraction = FLOAT32) -> dict[str, dict]:
    """The figures of each protocol (knn, linear, finetune) for one backbone on a labeled
    train/test pair: ``{protocol: {"top1", "balanced_top1", "predicted_classes", "classes"}}``
    (fractions; kNN adds its ``k``, by default adapted to the bank, ``ssrl.evaluation.knn``), and
    with kNN or linear ``"features"``: the test features' anisotropy and effective rank. Frozen
    features are computed once for the protocols that use them, as ``how`` says (the run's
    autocast and memory format, ``extraction``). ``augment``: the views of fine-tuning
    (``Modality.finetune_views``), or None."""
    unknown = set(protocols) - {"knn", "linear", "finetune"}
    if unknown:
        raise SsrlError(f"unknown protocol {sorted(unknown)[0]!r}; choose one of: {', '.join(PROTOCOLS)}")
    out = {}
    frozen = [p for p in protocols if p in FROZEN]
    if frozen:
        train_f = extract_features(backbone, train.rows, progress=progress, how=how)
        test_f = extract_features(backbone, test.rows, progress=progress, how=how)
        out = frozen_scores(train_f, train.labels, test_f, test.labels, frozen, k, temperature, seed)
    if "finetune" in protocols:
        b = budget or TrainBudget()
        pred = finetune_predict(backbone, train.rows, train.labels, test.rows, num_classes(train.labels, test.labels),
                                epochs=b.epochs, lr_backbone=b.lr_backbone, lr_head=b.lr_head,
                                batch_size=b.batch_size, seed=seed, augment=augment, weight_decay=b.weight_decay,
                                progress=progress)
        out["finetune"] = classification_metrics(pred, test.labels)
    return out


def evaluate(run: str | Path, data: str, protocol: str = "knn", *, test_data: str | None = None,
             label_fraction: float | None = None, label_fractions: list[float] | None = None,
             per_class: list[int] | None = None, draws: int = 3, classifier: str = "linear",
             budget: TrainBudget | None = None, k: int | None = None, temperature: float = 0.1, seed: int = 0,
             progress: bool = False, save: bool = True, **data_options) -> dict:
    """Evaluate a run's backbone on labeled data, beside the same backbone at its random init.

    ``data_options`` are the run's modality's (text: ``label_column``, ``text_column``, ``pool``).
    knn, linear, finetune: ``{"top1", "balanced_top1", "predicted_classes", "random_init_top1",
    ..., "protocol", "split", "unbalanced", "warnings", "verdict", "beats_floor", "causes"}``
    (fractions; see ``score``; kNN's ``k`` is adapted to the bank unless given); for finetune the
    random-init row is a supervised model trained from scratch with the same protocol. The
    verdict compares balanced accuracy (``ssrl.report.verdict``). fewshot: see ``fewshot``. With ``save`` the result is also written to
    ``RUN/evaluations/<protocol>-<data name>.json`` (its path in ``"saved"``), and ``RUN/report.html``
    is rebuilt to show it.
    """
    check_evaluation_options(k=k, label_fraction=label_fraction, label_fractions=label_fractions,
                             per_class=per_class, draws=draws, budget=budget)
    if protocol not in PROTOCOLS:
        raise SsrlError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    _check_protocol(run, modality, protocol)
    options = modality.check_options(data_options)
    if protocol == "fewshot":
        result = fewshot(run, data, test_data=test_data, label_fractions=label_fractions or (
            [label_fraction] if label_fraction is not None else None), per_class=per_class, draws=draws,
            classifier=classifier, budget=budget, seed=seed, progress=progress, **options)
        name = ("fewshot" if len(result["points"]) == 1 else "label_efficiency") + (
            "_finetune" if classifier == "finetune" else "")  # both classifiers' results are kept
    else:
        budget = budget or TrainBudget()
        fraction = 1.0 if label_fraction is None else label_fraction
        train, test, split = labeled(run, data, test_data=test_data, label_fraction=fraction, seed=seed, **options)
        how = extraction(cfg)
        scores = {prefix: score(modality.feature_backbone(backbone, **options), train, test, (protocol,), k,
                                temperature, seed, progress, budget, modality.finetune_views(budget.augment), how)
                  for prefix, backbone in (("", load_backbone(run)), ("random_init_", init_backbone(cfg)))}
        result = {"run": str(run), "data": data, "protocol": protocol, **modality.result_fields(**options),
                  "split": split, "label_fraction": fraction, "n_train": len(train), "n_test": len(test),
                  "unbalanced": is_unbalanced(train.labels, test.labels), **protocol_figures(scores, protocol)}
        if protocol == "finetune":
            result["budget"] = asdict(budget)
        result.update(verdict(run, result))
        name = protocol
    if save:
        if name == "label_efficiency":
            result["plot"] = str(plot_label_efficiency(
                result["points"], evaluation_path(run, name, data, ".png"),
                f"{cfg.method} on {Path(data).name}: label efficiency"))
        result["saved"] = str(evaluation_path(run, name, data))
        save_evaluation(run, name, data, result)
        write_report(run)  # the report's evaluation section shows every saved result
    return result


SHARED = ("classes", "k", "dim")  # the same for both backbones: one key in an evaluation result


def protocol_figures(scores: dict[str, dict], protocol: str) -> dict:
    """One protocol's figures for each backbone (``scores``: ``{prefix: score(...)}``, prefix ""
    for the pretrained one) as flat keys (``top1``, ``random_init_top1``, ...; the features'
    geometry too), and ``warnings`` for classifiers that predicted only a few classes."""
    out, warnings = {}, []
    for prefix, figures in scores.items():
        for key, v in {**figures[protocol], **figures.get("features", {})}.items():
            out[key if key in SHARED else prefix + key] = v
        who = f"the {'random-init' if prefix else 'pretrained'} backbone's {protocol} classifier"
        warnings.append(few_classes_warning(figures[protocol], who))
    out["warnings"] = [w for w in warnings if w]
    return out


def extraction(cfg: RunConfig) -> Extraction:
    """How a run's features are computed: under the run's precision and in its memory format
    (a run saved before ``channels_last`` was resolved gets its modality's choice)."""
    channels_last = get_modality(cfg.modality).channels_last if cfg.channels_last is None else cfg.channels_last
    return Extraction(precision=cfg.precision, channels_last=channels_last)


def _check_protocol(run, modality: Modality, protocol: str) -> None:
    if protocol not in modality.protocols:
        takes = " or ".join(m.name for m in MODALITIES.values() if protocol in m.protocols)
        raise SsrlError(f"{run}: the {protocol} protocol takes {takes} runs, this is a {modality.name} run "
                        f"(use {', '.join(modality.protocols)})")


def fewshot(run: str | Path, data: str, *, test_data: str | None = None, label_fractions: list[float] | None = None,
            per_class: list[int] | None = None, draws: int = 3, classifier: str = "linear",
            budget: TrainBudget | None = None, seed: int = 0, progress: bool = False, **data_options) -> dict:
    """Few-shot top-1 of a run's backbone at each number of labels (``label_fractions``, default
    1%, or ``per_class``), over ``draws`` class-balanced draws, beside the random-init backbone and a
    supervised model trained from scratch (``ssrl.evaluation.fewshot``). Returns ``{"points": [...],
    ...}``; with one setting the point's keys (``top1_mean``, ``top1_std``, ``scratch_top1_mean``,
    ``random_init_top1_mean``, per-draw lists) are also at the top level."""
    check_evaluation_options(label_fractions=label_fractions, per_class=per_class, draws=draws, budget=budget)
    if label_fractions and per_class:
        raise SsrlError("give label fractions or labels per class, not both")
    settings = ([Setting(per_class=n) for n in per_class] if per_class
                else [Setting(fraction=f) for f in (label_fractions or [0.01])])
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    _check_protocol(run, modality, "fewshot")
    train, test, split = labeled(run, data, test_data=test_data, seed=seed, **data_options)
    pretrained, random_init = load_backbone(run), init_backbone(cfg)
    augment = modality.finetune_views((budget or TrainBudget()).augment)
    points = [fewshot_point(pretrained, random_init, train.rows, train.labels, test.rows, test.labels, s,
                            draws=draws, seed=seed, classifier=classifier, budget=budget, augment=augment,
                            progress=progress, how=extraction(cfg)) for s in settings]
    result = {"run": str(run), "data": data, "protocol": "fewshot", "split": split, "n_test": len(test),
              "classifier": "linear probe on frozen features" if classifier == "linear" else "fine-tuned",
              "scratch": "same architecture from the same random init, all weights trained, same epochs",
              "points": points}
    result["unbalanced"] = is_unbalanced(train.labels, test.labels)
    if len(points) == 1:
        result.update({k: v for k, v in points[0].items() if k not in ("classifier", "warnings")})
        result.update(verdict(run, result, "balanced_top1_mean"))
    return result


def labeled(run: str | Path, data: str, *, test_data: str | None = None, label_fraction: float = 1.0,
            seed: int = 0, **data_options) -> tuple[Rows, Rows, str]:
    """D_t's train and test rows, encoded as the run's D_s was (its image size, its tokenizer), with
    a class-balanced ``label_fraction`` of the train labels, and the sentence describing the split."""
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    train, test, split = modality.labeled(Path(run), cfg, data, test_data=test_data, seed=seed, **data_options)
    train, note = keep_label_fraction(train, label_fraction, seed, unit=modality.unit)
    return train, test, split + note


def embed(run: str | Path, data: str | None, out: str | Path | None = None, **data_options) -> np.ndarray:
    """Features (N, dim) of every row of ``data`` (images; text runs pool the token features, see
    ``ssrl.modality.text``) under the run's backbone; saved to ``out`` (.npy) if given. Where
    ``out`` names a format of the modality's own (text: .txt or .vec, the vocabulary's vectors in
    word2vec's format) that is written instead, and ``data`` is not needed."""
    cfg = run_config(run)
    modality = get_modality(cfg.modality)
    options = modality.check_options(data_options)
    backbone = load_backbone(run)
    own = modality.own_output(Path(run), backbone, Path(out)) if out is not None else None
    if own is not None:
        return own
    if data is None:
        raise SsrlError("embed needs --data")
    rows = modality.embed_rows(Path(run), cfg, data, **options)
    backbone = modality.feature_backbone(backbone, **options)
    features = extract_features(backbone, rows, progress=True, how=extraction(cfg)).numpy()
    if out is not None:
        save_atomic(out, lambda f: np.save(f, features))
    return features
