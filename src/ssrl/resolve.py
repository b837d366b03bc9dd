"""Resolution: a ``RunConfig`` as given -> a ``ResolvedRun`` with every choice made, in one place.

``resolve`` reads D_s (its modality's rows, the image size and channels or the tokenizer they
decide) and fills every field the user left unset, in this order: the modality (given, or
recognised from the data spec), the method's ``run_defaults``, the backbone (the method's
default, else the modality's), the method's parameters (its ``Config`` defaults, then its
image-size tier's, then the run's own), its views likewise, and its optimizer (the method's,
the learning rate scaled by batch / 256). The given ``RunConfig`` is never changed; the resolved
one is what ``RUN/config.yaml`` holds, and resolving it again (``--resume``) gives it back.
"""

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ssrl.config import RunConfig, override
from ssrl.errors import SsrlError
from ssrl.modality import Modality, SourceRows, get_modality, modality_of
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
    method = get_method(given.method)
    modality = get_modality(given.modality) if given.modality else modality_of(given.data)
    if method.modality != modality.name:
        raise SsrlError(f"{given.data}: {modality.name} data, but {method.name} is a method for {method.modality} "
                        f"(see `ssrl methods`)")
    cfg = replace(given, modality=modality.name,
                  **{k: v for k, v in method.run_defaults.items() if getattr(given, k) is None})
    source = modality.load_source(cfg, run_dir)
    cfg = replace(cfg, **source.resolved)
    _check_channels(method, cfg)
    tier = _size_tier(cfg.image_size)
    params = method_config(method.name, {**(method.large_image_params if tier == "large" else {}),
                                         **(method.small_image_params if tier == "small" else {}), **cfg.params})
    views = override(method.default_views(), {**(method.large_image_views if tier == "large" else {}), **cfg.views},
                     "views")
    base = method.optimizer
    optimizer = OptimizerDefaults(
        name=cfg.optimizer or base.name,
        lr=cfg.lr if cfg.lr is not None else base.lr * cfg.batch_size / 256,
        weight_decay=cfg.weight_decay if cfg.weight_decay is not None else base.weight_decay,
        momentum=base.momentum,
        warmup_epochs=cfg.warmup_epochs if cfg.warmup_epochs is not None else base.warmup_epochs)
    cfg = replace(cfg, backbone=cfg.backbone or method.default_backbone or modality.default_backbone,
                  channels_last=modality.channels_last if cfg.channels_last is None else cfg.channels_last,
                  params=asdict(params), views=asdict(views), optimizer=optimizer.name, lr=optimizer.lr,
                  weight_decay=optimizer.weight_decay, warmup_epochs=optimizer.warmup_epochs)
    return ResolvedRun(cfg, method, params, views, optimizer, modality, source)


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
