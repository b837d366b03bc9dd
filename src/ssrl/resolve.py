"""Resolution: a ``RunConfig`` as given -> a ``ResolvedRun`` with every choice made, in one place.

``resolve`` reads D_s (its modality's rows, the image size and channels or the tokenizer they
decide) and fills every field the user left unset, in this order: the modality (given, or
recognised from the data spec), the method (given, or the modality's default), its ``run_defaults``, the schedule (batch size and
epochs chosen for the number of rows N: ``choose_batch_size``, ``choose_epochs``), the backbone
(the method's default, else the modality's), the method's parameters (its ``Config`` defaults,
then its image-size tier's, then the run's own), its views likewise (with the data's say
between the tier's and the run's own: ``Modality.view_defaults``), and its optimizer (the
method's, the learning rate scaled by batch / 256). The given ``RunConfig`` is never changed; the
resolved one is what ``RUN/config.yaml`` holds, and resolving it again (``--resume``) gives it
back. A schedule chosen for the user is stated (``ssrl.notices.notice``).
"""

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ssrl.compiled import choose_compile
from ssrl.config import UNTIL_BUDGET, RunConfig, override, parse_budget, until_budget
from ssrl.errors import SsrlError
from ssrl.modality import Modality, SourceRows, get_modality, modality_of
from ssrl.notices import notice
from ssrl.precision import AUTO, choose_precision
from ssrl.pretext import LARGE_IMAGE, OptimizerDefaults, Pretext, get_method, method_config
from ssrl.pretext.base import SMALL_IMAGE
from ssrl.views import ViewConfig


@dataclass(frozen=True)
class ResolvedRun:
    config: RunConfig               # every field decided: what RUN/config.yaml holds
    method: type[Pretext]
    params: Any                     # the method's Config
    views: ViewConfig               # T
    optimizer: OptimizerDefaults
    modality: Modality
    source: SourceRows              # D_s in memory


def resolve(given: RunConfig, run_dir: Path | None = None) -> ResolvedRun:
    """Every choice of a run made from ``given`` and its data; ``run_dir``: the run being resumed."""
    modality = _modality(given)
    method = get_method(given.method or modality.default_method)
    if method.modality != modality.name:
        raise SsrlError(f"{given.data}: {modality.name} data, but {method.name} is a method for {method.modality} "
                        f"(see `ssrl methods`)")
    cfg = replace(given, modality=modality.name, method=method.name,
                  **{k: v for k, v in method.run_defaults.items() if getattr(given, k) is None})
    source = modality.load_source(cfg, run_dir)
    cfg = replace(cfg, **source.resolved)
    _check_channels(method, cfg)
    cfg = _schedule(cfg, method, len(source.rows), modality)
    if cfg.log_every_n_steps is None:
        cfg = replace(cfg, log_every_n_steps=log_interval(len(source.rows) // cfg.batch_size))
    tier = _size_tier(cfg.image_size)
    params = method_config(method.name, {**(method.large_image_params if tier == "large" else {}),
                                         **(method.small_image_params if tier == "small" else {}), **cfg.params})
    views = override(method.default_views(), method.large_image_views if tier == "large" else {}, "views")
    views = override(views, {**modality.view_defaults(source, views, cfg.views), **cfg.views}, "views")
    base = method.optimizer
    optimizer = OptimizerDefaults(
        name=cfg.optimizer or base.name,
        lr=cfg.lr if cfg.lr is not None else base.lr * cfg.batch_size / 256,
        weight_decay=cfg.weight_decay if cfg.weight_decay is not None else base.weight_decay,
        momentum=base.momentum,
        warmup_epochs=cfg.warmup_epochs if cfg.warmup_epochs is not None else base.warmup_epochs)
    precision, why = choose_precision(cfg.precision, cfg.accelerator, method.name, method.bf16_checked)
    if cfg.precision == AUTO:
        notice(f"precision: {precision} ({why})")
    compiled, why = choose_compile(cfg.compile, cfg.accelerator, method.name, method.compile_checked,
                                   _planned_steps(cfg, len(source.rows)),
                                   parse_budget(cfg.budget).total_seconds() if cfg.budget else None)
    if cfg.compile is None and (compiled or method.compile_checked):  # unchecked methods: silent, as before
        notice(f"compile: {'on' if compiled else 'off'} ({why})")
    backbone = cfg.backbone or method.default_backbone or modality.default_backbone
    cfg = replace(cfg, backbone=backbone, precision=precision, compile=compiled,
                  channels_last=modality.channels_last_for(backbone) if cfg.channels_last is None else cfg.channels_last,
                  params=asdict(params), views=asdict(views), optimizer=optimizer.name, lr=optimizer.lr,
                  weight_decay=optimizer.weight_decay, warmup_epochs=optimizer.warmup_epochs)
    return ResolvedRun(cfg, method, params, views, optimizer, modality, source)


def _planned_steps(cfg: RunConfig, n: int) -> int:
    steps = n // max(1, cfg.batch_size) * cfg.epochs
    return steps if cfg.max_steps is None else min(steps, cfg.max_steps)


def method_name(given: RunConfig) -> str:
    """The run's method: the one given, else its modality's default."""
    return given.method or _modality(given).default_method


def _modality(given: RunConfig) -> Modality:
    return get_modality(given.modality) if given.modality else modality_of(given.data)


SMALLEST_BATCH, LARGEST_BATCH = 16, 256   # bounds of a chosen batch size
BATCHES_PER_EPOCH = 8                     # a chosen batch is at most N / 8
MIN_EPOCHS = 10                           # a chosen schedule's fewest epochs


def choose_batch_size(n: int, world: int = 1, largest: int = LARGEST_BATCH) -> int:
    """The batch size of a run given none, for ``n`` source rows: the largest power of two at
    most n / 8, within [16, ``largest``], and never more than n (1,000 rows → 64, 1,797 → 128,
    4,096 or more → 256). 256 keeps large data at the usual batch; on small data a smaller batch
    gives at least 8 optimizer steps an epoch, since the steps, not the epochs, are what a method
    needs. ``largest`` is the modality's (``Modality.largest_chosen_batch``: 64 for text). On
    several processes it is a multiple of their number ``world``."""
    batch = SMALLEST_BATCH
    while batch * 2 <= min(n / BATCHES_PER_EPOCH, largest):
        batch *= 2
    batch = max(1, min(batch, n))
    return max(world, batch // world * world) if world > 1 else batch


def choose_epochs(steps_per_epoch: int, min_steps: int, max_steps: int | None = None,
                  budget: str | None = None) -> int:
    """The epochs of a run given none: with ``max_steps``, just enough to span them (the lr
    schedule then ends at the last step); with only a ``budget``, ``UNTIL_BUDGET`` (the budget ends
    training, and the lr and momentum schedules follow the time spent); otherwise enough epochs for the method's ``min_steps`` (the
    optimizer steps it needs on small data to beat its random-init floor), and at least 10."""
    steps_per_epoch = max(1, steps_per_epoch)
    if max_steps is not None:
        return max(1, math.ceil(max_steps / steps_per_epoch))
    if budget is not None:
        return UNTIL_BUDGET
    return max(MIN_EPOCHS, math.ceil(min_steps / steps_per_epoch))


def _schedule(cfg: RunConfig, method: type[Pretext], n: int, modality: Modality) -> RunConfig:
    """``cfg`` with batch size and epochs filled for ``n`` rows where not given; the plan stated."""
    if cfg.batch_size is not None and cfg.epochs is not None:
        return cfg
    batch = cfg.batch_size if cfg.batch_size is not None else choose_batch_size(n, cfg.devices * cfg.nodes,
                                                                                   modality.largest_chosen_batch)
    per_epoch = n // max(1, batch)  # 0 when the batch exceeds the data: the engine refuses it, naming both
    epochs = cfg.epochs if cfg.epochs is not None else choose_epochs(per_epoch, method.min_steps, cfg.max_steps,
                                                                     cfg.budget)
    steps_word = "step" if per_epoch == 1 else "steps"
    plan = f"schedule: {n:,} {modality.unit}, batch {batch} → {per_epoch:,} {steps_word}/epoch"
    if until_budget(epochs, cfg.budget):
        plan += f" until --budget {cfg.budget} runs out"
    else:
        plan += f" × {epochs:,} epochs"
        plan += f", ending at --max-steps {cfg.max_steps:,}" if cfg.max_steps is not None else f" = {per_epoch * epochs:,} steps"
        if cfg.budget is not None:
            plan += f", or fewer if --budget {cfg.budget} runs out first"
    by_rule = cfg.epochs is None and cfg.max_steps is None and cfg.budget is None  # epochs for min_steps
    steps = per_epoch * epochs if cfg.max_steps is None else min(per_epoch * epochs, cfg.max_steps)
    notes = [f"{method.name} needs about {method.min_steps:,} steps on small data to beat random init"] \
        if by_rule or steps < method.min_steps or until_budget(epochs, cfg.budget) else []
    flags = (["--epochs"] if cfg.epochs is None else []) + (["--max-steps", "--budget"] if by_rule else []) + \
        (["--batch-size"] if cfg.batch_size is None else [])
    notes.append((", ".join(flags[:-1]) + " or " if len(flags) > 1 else "") + flags[-1] + " to choose")
    notice(f"{plan} ({'; '.join(notes)})")
    return replace(cfg, batch_size=batch, epochs=epochs)


def log_interval(steps_per_epoch: int) -> int:
    """Steps between logged rows: 10, or fewer on short epochs so that each epoch still logs about
    four (a short run's curve has points, and Lightning does not warn about its interval)."""
    return max(1, min(10, steps_per_epoch // 4))


def _size_tier(image_size: int | None) -> str | None:
    """``large`` (the papers' ImageNet values), ``small`` (tiny images) or None."""
    if image_size is None:
        return None
    return "large" if image_size >= LARGE_IMAGE else "small" if image_size <= SMALL_IMAGE else None


def _check_channels(method: type[Pretext], cfg: RunConfig) -> None:
    if method.needs_channels is not None and cfg.in_channels not in (None, method.needs_channels):
        plural = "s" if cfg.in_channels != 1 else ""
        raise SsrlError(f"{cfg.data}: {method.name} needs colour (RGB) images; these images have "
                        f"{cfg.in_channels} channel{plural}{' (grayscale)' if cfg.in_channels == 1 else ''}")
