"""The public Python API; the command line (``ssrl.cli``) is a thin layer over it."""

import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only

from ssrl.components.batch_norm import recompute_batch_norm
from ssrl.config import RunConfig, parse_budget, parse_value
from ssrl.data import Source, load_labeled, load_source
from ssrl.data.split import keep_label_fraction
from ssrl.engine import PretrainModule, make_trainer
from ssrl.errors import SsrlError
from ssrl.evaluation import PROTOCOLS, extract_features, knn_top1, linear_probe_top1
from ssrl.evaluation.fewshot import Setting, TrainBudget, fewshot_point
from ssrl.evaluation.finetune import finetune_top1, supervised_views
from ssrl.evaluation.label_efficiency import plot_label_efficiency
from ssrl.evaluation.records import evaluation_path, save_evaluation
from ssrl.evaluation.monitor import KnnMonitor
from ssrl.pretext import LARGE_IMAGE, OptimizerDefaults, get_method, method_config
from ssrl.report import write_report
from ssrl.runs import init_backbone, load_backbone, run_config, save_backbone
from ssrl.data.tokenize import save_tokenizer
from ssrl.text_runs import (TOKENIZER_FILE, check_modality, default_backbone, embed_text, evaluate_text, is_text_data,
                            source_ids)
from ssrl.views import ViewConfig, Views


def pretrain(data: str | None = None, method: str = "simclr", *, out: str | Path | None = None,
             resume: bool = False, callbacks: tuple = (), progress: bool = True, **options) -> Path:
    """Pretrain a backbone with a pretext method on unlabeled data; returns the run directory.

    ``options`` are ``RunConfig`` fields (epochs, batch_size, backbone, seed, lr, params, ...).
    With ``resume=True`` the run in ``out`` continues from ``checkpoints/last.ckpt`` with its
    saved configuration (``options`` may only change where it runs: accelerator, devices, nodes).
    """
    if resume:
        if out is None:
            raise SsrlError("--resume needs the run directory (--out RUN_DIR)")
        cfg = replace(run_config(out), **_where_only(options))
        run_dir = Path(out)
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise SsrlError(f"{ckpt}: no checkpoint to resume from")
    else:
        if data is None:
            raise SsrlError("pretrain needs --data")
        if options.get("backbone") is None:
            options["backbone"] = default_backbone(method) if is_text_data(data) else "convnet-small"
        cfg = RunConfig(data=data, method=method, **options)
        if is_text_data(data):
            cfg.modality, cfg.channels_last = "text", False
        if out is None and (cfg.devices > 1 or cfg.nodes > 1):  # each process would pick its own time stamp
            raise SsrlError("runs on several processes need --out, so that every process uses the same run directory")
        run_dir = Path(out) if out else Path("runs") / f"{method}-{Path(data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
        ckpt = None
        if (run_dir / "checkpoints" / "last.ckpt").exists():
            raise SsrlError(f"{run_dir}: a run is already there; pass --resume to continue it or choose another --out")
        (run_dir / "metrics.csv").unlink(missing_ok=True)  # left by a run killed before its first checkpoint

    method_cls = get_method(cfg.method)
    check_modality(cfg, method_cls.modality)
    if cfg.modality == "text":
        if cfg.monitor:
            raise SsrlError("--monitor (an online kNN on images) is not available for text data")
        rows, tokenizer = source_ids(cfg, run_dir / TOKENIZER_FILE if resume else None)
        labels, optim, large = None, _resolve(cfg, None, method_cls.optimizer), False
    else:
        source = load_source(cfg.data, image_size=cfg.image_size, skip_bad=cfg.skip_bad)
        if cfg.limit:
            source = source.subset(slice(0, cfg.limit))
        rows, labels = source.images, source.labels
        optim = _resolve(cfg, source, method_cls.optimizer)
        large = cfg.image_size >= LARGE_IMAGE
    mcfg = method_config(cfg.method, {**(method_cls.large_image_params if large else {}), **cfg.params})
    cfg.params = asdict(mcfg)
    views = Views(_views(method_cls.default_views(), {**(method_cls.large_image_views if large else {}), **cfg.views}))

    backbone = init_backbone(cfg)
    torch.manual_seed(cfg.seed)  # the head's init
    method = method_cls(backbone, mcfg, views)  # refuses a wrong backbone or data before anything is written
    run_dir.mkdir(parents=True, exist_ok=True)
    if rank_zero_only.rank == 0:
        cfg.to_yaml(run_dir / "config.yaml")
        if cfg.modality == "text" and not resume:
            save_tokenizer(tokenizer, run_dir / TOKENIZER_FILE)
    max_time = parse_budget(cfg.budget) if cfg.budget else None
    module = PretrainModule(method, rows, cfg.batch_size, cfg.epochs, optim, cfg.seed, cfg.channels_last, labels,
                            budget_s=max_time.total_seconds() if max_time else None)
    monitors = [_monitor(cfg)] if cfg.monitor else []
    trainer = make_trainer(run_dir, cfg.epochs, cfg.accelerator, cfg.devices, cfg.nodes, cfg.precision,
                           cfg.log_every_n_steps, [*monitors, *callbacks], progress, cfg.max_steps, max_time=max_time)
    trainer.fit(module, ckpt_path=ckpt, weights_only=True)
    if trainer.global_rank == 0:
        if method_cls.patch_inputs:
            recompute_batch_norm(backbone, rows)
        save_backbone(backbone.to(memory_format=torch.contiguous_format), cfg, run_dir)
        module.method.save_artifacts(run_dir, rows[:64])
        write_report(run_dir)
    return run_dir


def _where_only(options: dict) -> dict:
    allowed = {"accelerator", "devices", "nodes"}
    extra = {k for k, v in options.items() if v is not None} - allowed
    if extra:
        raise SsrlError(f"--resume continues the saved configuration; it cannot change {sorted(extra)}")
    return {k: v for k, v in options.items() if v is not None}


def _resolve(cfg: RunConfig, source: Source | None, default: OptimizerDefaults) -> OptimizerDefaults:
    """Fill the data-dependent (images: ``source``; text: None) and method-default fields of ``cfg`` in place."""
    if source is not None:
        h, w = source.image_size
        if h != w:
            raise SsrlError(f"{source.name}: images are {h}×{w}; pass --image-size to make them square")
        cfg.image_size, cfg.in_channels = h, source.channels
    cfg.optimizer = cfg.optimizer or default.name
    cfg.lr = cfg.lr if cfg.lr is not None else default.lr * cfg.batch_size / 256
    cfg.weight_decay = cfg.weight_decay if cfg.weight_decay is not None else default.weight_decay
    cfg.warmup_epochs = cfg.warmup_epochs if cfg.warmup_epochs is not None else default.warmup_epochs
    return OptimizerDefaults(cfg.optimizer, cfg.lr, cfg.weight_decay, default.momentum, cfg.warmup_epochs)


def _views(base: ViewConfig, overrides: dict) -> ViewConfig:
    known = {f.name for f in fields(ViewConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise SsrlError(f"unknown view option(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return replace(base, **{k: parse_value(v, getattr(base, k)) if isinstance(v, str) else v
                                for k, v in overrides.items()})
    except ValueError as e:
        raise SsrlError(f"bad view option in {overrides}: {e}") from e


def _monitor(cfg: RunConfig) -> KnnMonitor:
    train, test, _ = load_labeled(cfg.monitor, image_size=cfg.image_size)
    g = torch.Generator().manual_seed(0)  # subsets keep the monitor cheap: at most 10k bank, 2k queries
    bank = torch.randperm(len(train), generator=g)[:10_000]
    query = torch.randperm(len(test), generator=g)[:2_000]
    return KnnMonitor(train.images[bank], train.labels[bank], test.images[query], test.labels[query])


def score(backbone: torch.nn.Module, train: Source, test: Source, protocols=("knn", "linear"),
          k: int = 200, temperature: float = 0.1, seed: int = 0, progress: bool = False,
          budget: TrainBudget | None = None) -> dict[str, float]:
    """Top-1 (a fraction) of each protocol (knn, linear, finetune) for one backbone on a labeled
    train/test pair; frozen features are computed once for the protocols that use them."""
    unknown = set(protocols) - {"knn", "linear", "finetune"}
    if unknown:
        raise SsrlError(f"unknown protocol {sorted(unknown)[0]!r}; choose one of: {', '.join(PROTOCOLS)}")
    out = {}
    if {"knn", "linear"} & set(protocols):
        train_f = extract_features(backbone, train.images, progress=progress)
        test_f = extract_features(backbone, test.images, progress=progress)
    for protocol in protocols:
        if protocol == "knn":
            out["knn"] = knn_top1(train_f, train.labels, test_f, test.labels, k, temperature)
        elif protocol == "linear":
            out["linear"] = linear_probe_top1(train_f, train.labels, test_f, test.labels, seed=seed)
        else:
            b = budget or TrainBudget()
            out["finetune"] = finetune_top1(
                backbone, train.images, train.labels, test.images, test.labels, epochs=b.epochs,
                lr_backbone=b.lr_backbone, lr_head=b.lr_head, batch_size=b.batch_size, seed=seed,
                augment=supervised_views() if b.augment else None, weight_decay=b.weight_decay, progress=progress)
    return out


def evaluate(run: str | Path, data: str, protocol: str = "knn", *, test_data: str | None = None,
             label_fraction: float | None = None, label_fractions: list[float] | None = None,
             per_class: list[int] | None = None, draws: int = 3, classifier: str = "linear",
             budget: TrainBudget | None = None, k: int = 200, temperature: float = 0.1, seed: int = 0,
             progress: bool = False, save: bool = True, label_column: str | None = None,
             text_column: str | None = None, pool: str = "mean") -> dict:
    """Evaluate a run's backbone on labeled data, beside the same backbone at its random init.

    Text runs (knn, linear, finetune): ``label_column`` names the class column of ``data``,
    ``pool`` the pooled feature (``mean`` over the tokens, or the ``first``), see ``ssrl.text_runs``.

    knn, linear, finetune: ``{"top1", "random_init_top1", "protocol", "split", ...}`` (top-1 as
    fractions); for finetune the random-init row is a supervised model trained from scratch with
    the same protocol. fewshot: see ``fewshot``. With ``save`` the result is also written to
    ``RUN/evaluations/<protocol>-<data name>.json`` (its path in ``"saved"``), and ``RUN/report.html``
    is rebuilt to show it.
    """
    if protocol not in PROTOCOLS:
        raise SsrlError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")
    if protocol != "fewshot" and run_config(run).modality == "text":
        result = evaluate_text(run, data, protocol, label_column=label_column, text_column=text_column, pool=pool,
                               test_data=test_data, label_fraction=1.0 if label_fraction is None else label_fraction,
                               k=k, temperature=temperature, seed=seed, budget=budget or TrainBudget(),
                               progress=progress)
        name = protocol
    elif protocol == "fewshot":
        result = fewshot(run, data, test_data=test_data, label_fractions=label_fractions or (
            [label_fraction] if label_fraction is not None else None), per_class=per_class, draws=draws,
            classifier=classifier, budget=budget, seed=seed, progress=progress)
        name = ("fewshot" if len(result["points"]) == 1 else "label_efficiency") + (
            "_finetune" if classifier == "finetune" else "")  # both classifiers' results are kept
    else:
        cfg = run_config(run)
        fraction = 1.0 if label_fraction is None else label_fraction
        train, test, split = labeled_pair(data, cfg, test_data, fraction, seed)
        pretrained = score(load_backbone(run), train, test, (protocol,), k, temperature, seed, progress, budget)
        random_init = score(init_backbone(cfg), train, test, (protocol,), k, temperature, seed, progress, budget)
        result = {"run": str(run), "data": data, "protocol": protocol, "split": split,
                  "label_fraction": fraction, "n_train": len(train), "n_test": len(test),
                  "top1": pretrained[protocol], "random_init_top1": random_init[protocol]}
        if protocol == "finetune":
            result["budget"] = asdict(budget or TrainBudget())
        name = protocol
    if save:
        if name == "label_efficiency":
            result["plot"] = str(plot_label_efficiency(
                result["points"], evaluation_path(run, name, data, ".png"),
                f"{run_config(run).method} on {Path(data).name}: label efficiency"))
        result["saved"] = str(evaluation_path(run, name, data))
        save_evaluation(run, name, data, result)
        write_report(run)  # the report's evaluation section shows every saved result
    return result


def fewshot(run: str | Path, data: str, *, test_data: str | None = None, label_fractions: list[float] | None = None,
            per_class: list[int] | None = None, draws: int = 3, classifier: str = "linear",
            budget: TrainBudget | None = None, seed: int = 0, progress: bool = False) -> dict:
    """Few-shot top-1 of a run's backbone at each number of labels (``label_fractions``, default
    1%, or ``per_class``), over ``draws`` class-balanced draws, beside the random-init backbone and a
    supervised model trained from scratch (``ssrl.evaluation.fewshot``). Returns ``{"points": [...],
    ...}``; with one setting the point's keys (``top1_mean``, ``top1_std``, ``scratch_top1_mean``,
    ``random_init_top1_mean``, per-draw lists) are also at the top level."""
    if label_fractions and per_class:
        raise SsrlError("give label fractions or labels per class, not both")
    settings = ([Setting(per_class=n) for n in per_class] if per_class
                else [Setting(fraction=f) for f in (label_fractions or [0.01])])
    cfg = run_config(run)
    if cfg.modality != "image":
        raise SsrlError(f"{run}: the few-shot protocol takes image runs, this is a {cfg.modality} run "
                        f"(use knn, linear or finetune)")
    train, test, split = labeled_pair(data, cfg, test_data, 1.0, seed)
    pretrained, random_init = load_backbone(run), init_backbone(cfg)
    augment = supervised_views() if (budget or TrainBudget()).augment else None
    points = [fewshot_point(pretrained, random_init, train.images, train.labels, test.images, test.labels, s,
                            draws=draws, seed=seed, classifier=classifier, budget=budget, augment=augment,
                            progress=progress) for s in settings]
    result = {"run": str(run), "data": data, "protocol": "fewshot", "split": split, "n_test": len(test),
              "classifier": "linear probe on frozen features" if classifier == "linear" else "fine-tuned",
              "scratch": "same architecture from the same random init, all weights trained, same epochs",
              "points": points}
    if len(points) == 1:
        result.update({k: v for k, v in points[0].items() if k != "classifier"})
    return result


def labeled_pair(data: str, cfg: RunConfig, test_data: str | None = None, label_fraction: float = 1.0,
                 seed: int = 0) -> tuple[Source, Source, str]:
    """D_t's train and test parts at the run's image size, with ``label_fraction`` of the train labels."""
    train, test, split = load_labeled(data, test_spec=test_data, image_size=cfg.image_size, seed=seed)
    if train.channels != cfg.in_channels:
        raise SsrlError(f"{data}: {train.channels}-channel images, but the run was trained on {cfg.in_channels}")
    train, note = keep_label_fraction(train, label_fraction, seed)
    return train, test, split + note


def embed(run: str | Path, data: str | None, out: str | Path | None = None, *, text_column: str | None = None,
          pool: str = "mean") -> np.ndarray:
    """Features (N, dim) of every image (or document: text runs pool the token features, ``pool``) of
    ``data`` under the run's backbone; saved to ``out`` (.npy) if given. Text runs with ``out``
    ending in .txt or .vec write the vocabulary's vectors in word2vec's text format instead."""
    if run_config(run).modality == "text":
        return embed_text(run, data, out, text_column=text_column, pool=pool)
    if data is None:
        raise SsrlError("embed needs --data")
    cfg = run_config(run)
    source = load_source(data, image_size=cfg.image_size)
    features = extract_features(load_backbone(run), source.images, progress=True).numpy()
    if out is not None:
        np.save(out, features)
    return features
