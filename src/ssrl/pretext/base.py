"""The pretext interface: P (``pseudolabels``), k_γ (``head``) and L (``loss``) around h_θ.

Every method is ``loss = L(k_γ(h_θ(x)), z)`` with ``(x, z) = P(raw)``. A method knows nothing
about optimizers, devices or logging; the engine calls these methods and the optional hooks.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ssrl.backbones.maps import has_maps
from ssrl.errors import SsrlError
from ssrl.views import ViewConfig


@dataclass
class OptimizerDefaults:
    """A method's own optimizer and schedule (cosine decay after linear warm-up)."""

    name: str = "adamw"            # adamw | sgd
    lr: float = 1e-3               # for batch 256; scaled linearly with the batch size
    weight_decay: float = 1e-6
    momentum: float = 0.9          # sgd only
    warmup_epochs: float = 0.0     # may be fractional


LARGE_IMAGE = 128  # images this many pixels a side or more get a method's ImageNet-size defaults
SMALL_IMAGE = 16   # images this many pixels a side or fewer get a method's tiny-image defaults

# SimCLR's ImageNet views (Chen et al. 2020, appendix A): crops of 8-100% of the area, blur on
# half the views; the joint-embedding methods' papers all start from them.
IMAGENET_VIEWS = {"crop_scale": (0.08, 1.0), "blur": 0.5}


# Optimizer steps each family needed to beat its random-init floor on B6's long-tailed 1,000
# Fashion-MNIST images (batch 64; the fewest of 250, 500, 1,000 and 2,000 steps whose linear-probe
# balanced accuracy beat the floor by 2 points; BENCHMARKS.md, "B6"). Families not listed (text,
# clustering: not measured at several lengths yet) get Pretext.min_steps.
FAMILY_MIN_STEPS = {
    "contrastive instance discrimination": 500,   # simclr: +0.9 points at 250, +2.7 at 500
    "transformation prediction": 250,             # rotation: +3.9 at 250
    "redundancy reduction": 250,                  # vicreg: +2.6 at 250
    "masked prediction (generative)": 500,        # mae: +1.3 at 250, +7.9 at 500
    "bootstrapping / self-distillation": 2000,    # byol: under at 500, +0.2 at 1,000, +1.1 at 2,000 (a lower bound)
}


class Pretext(nn.Module):
    """Base class of every pretext method. Subclasses set the class attributes, define a
    ``Config`` dataclass of hyperparameters, build ``self.head`` and implement P and L.

    ``Config``'s defaults suit small images (≤ 64 px) and short runs on small backbones;
    ``large_image_params`` and ``large_image_views`` hold the paper's ImageNet values that
    replace them for images of ``LARGE_IMAGE`` px or more, ``small_image_params`` values for
    images of ``SMALL_IMAGE`` px or fewer (a run's own options still win).

    What a method needs is declared here, never looked up by its name elsewhere:
    ``default_backbone`` (None: its modality's), ``backbone_kinds`` (the ``kind`` of h_θ it can
    train; empty: any), ``needs_channels`` (3: colour images only), ``patch_inputs`` and
    ``min_steps`` (the optimizer steps it needs on small data to beat random init) and
    ``gain_at_layers`` (the feature maps where its gain was measured, if not in its pooled feature).
    """

    name: ClassVar[str]
    family: ClassVar[str]
    modality: ClassVar[str]
    paper: ClassVar[str]
    Config: ClassVar[type]
    optimizer: ClassVar[OptimizerDefaults] = OptimizerDefaults()
    large_image_params: ClassVar[dict] = {}
    large_image_views: ClassVar[dict] = {}
    small_image_params: ClassVar[dict] = {}
    default_backbone: ClassVar[str | None] = None  # None: the modality's default backbone
    backbone_kinds: ClassVar[tuple[str, ...]] = ()  # the ``kind``s of h_θ it can train; (): any
    needs_maps: ClassVar[bool] = False  # True: L reads h_θ's feature maps (``ssrl.backbones.maps``)
    needs_channels: ClassVar[int | None] = None   # 3: refuses grayscale data
    run_defaults: ClassVar[dict] = {}  # RunConfig fields it needs set otherwise than by default (a tokenizer)
    patch_inputs: ClassVar[bool] = False  # True: h_θ sees only patches; its BN statistics are redone on whole images
    # Optimizer steps the method needs on small data (a few thousand images) to beat its own
    # random-init floor: the schedule a run chooses when given none spans at least this many
    # (ssrl.resolve.choose_epochs) and `ssrl bench` warns below it. ``register`` sets it from
    # FAMILY_MIN_STEPS unless the method declares its own.
    min_steps: ClassVar[int] = 500
    # True once its accuracy under bf16-mixed, over seeds, lost nothing beyond the seed spread
    # against float32: ``--precision auto`` then chooses bf16 on devices that have it (ssrl.precision)
    bf16_checked: ClassVar[bool] = False
    # True once its step measured faster under torch.compile with the same loss (ssrl.compiled)
    compile_checked: ClassVar[bool] = False
    # Feature maps (``--layer N``) at which its features beat random init on B1 over seeds while its
    # pooled feature did not: when the pooled feature loses, the verdict points there (BENCHMARKS.md)
    gain_at_layers: ClassVar[tuple[int, ...]] = ()

    def __init__(self, backbone: nn.Module, cfg: Any, views: nn.Module):
        self.check_backbone(backbone)
        super().__init__()
        self.backbone = backbone  # h_θ
        self.cfg = cfg
        self.views = views        # T, used by methods whose P makes augmented views

    @classmethod
    def default_views(cls) -> ViewConfig:
        """The augmentations T this method's P applies unless the run overrides them."""
        return ViewConfig.none()

    @classmethod
    def check_backbone(cls, backbone: nn.Module) -> None:
        """Refuse an h_θ whose ``kind`` this method cannot train, or without feature maps where the
        method needs them, naming the backbone to use."""
        kind = getattr(backbone, "kind", None)
        if kind == "clip" and cls.modality != "video":
            raise SsrlError(f"{cls.name} is a method for {cls.modality}; {type(backbone).__name__} is a clip "
                            "backbone, for video data")
        if cls.backbone_kinds and kind not in cls.backbone_kinds:
            article = "an" if cls.modality[0] in "aeiou" else "a"
            raise SsrlError(f"{cls.name} is {article} {cls.modality} method: it needs a "
                            f"{' or '.join(cls.backbone_kinds)} backbone "
                            f"{f' (--backbone {cls.default_backbone})' if cls.default_backbone else ''}, "
                            f"not {type(backbone).__name__}{f' ({kind})' if kind else ''}")
        if cls.needs_maps and not has_maps(backbone):
            raise SsrlError(f"{cls.name} needs a backbone that exposes its feature maps (convnet-small or a ResNet, "
                            f"or one with a forward_maps method), not {type(backbone).__name__}")

    @classmethod
    def wrap_backbone(cls, backbone: nn.Module) -> nn.Module:
        """h_θ as this method trains and exports it, from the backbone built by name; the identity
        except for methods whose representation joins several networks (split-brain)."""
        return backbone

    def pseudolabels(self, x: torch.Tensor, index: torch.Tensor | None = None) -> tuple[Any, Any]:
        """P: from a raw batch x (images (B, C, H, W) or videos (B, T, C, H, W) float in [0, 1], or
        token ids (B, T)) the
        pretext inputs and targets z; ``index`` (B,) says where in D_s the rows are, for methods
        whose targets are kept per sample (DeepCluster), and is None outside training."""
        raise NotImplementedError

    def loss(self, inputs: Any, z: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L(k_γ(h_θ(inputs)), z): the scalar loss and extra figures to log (may be empty)."""
        raise NotImplementedError

    # Optional hooks for stateful methods (EMA targets, queues, re-clustering).
    def on_train_epoch_start(self, epoch: int, images: torch.Tensor,
                             labels: torch.Tensor | None) -> dict[str, float] | None:
        """Before each epoch, with the whole unlabeled set D_s (N, C, H, W) uint8 on the CPU and,
        where the data have them, its labels (N,), for monitoring only. Returns figures to log."""
        return None

    def on_after_optimizer_step(self, step: int, progress: float) -> None:
        """After each optimizer step, given the steps done and ``progress``, the fraction of
        training done in [0, 1]: of the planned steps, or of the wall-clock budget where that is
        further along (so that momentum and temperature schedules end with a budget, as the lr does)."""

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """After training, on the main process: write the method's own files into the run
        directory (a permutation set, a grid of reconstructions of ``sample``, the first images
        of D_s as (N, C, H, W) uint8 on the CPU)."""


__all__ = ["IMAGENET_VIEWS", "LARGE_IMAGE", "SMALL_IMAGE", "OptimizerDefaults", "Pretext"]
