"""BYOL. Grill et al., 2020, arXiv:2006.07733.

P: two random views of every image (as SimCLR). k_γ: a projector and a predictor on the online
network; a target network (backbone + projector) that is an EMA of the online one and takes
no gradient. L: each view's online prediction regresses the other view's target projection,
2 − 2·cos, symmetrized. The target's momentum rises from ``base_momentum`` to 1 on a cosine
schedule (§3.2). The paper (ImageNet, ResNet-50): projector and predictor 4096 → 256, LARS
lr 0.2 × batch/256, weight decay 1.5e-6, base momentum 0.996, 1000 epochs. For small backbones
and a few hundred steps we use 512 → 128, AdamW lr 1e-3 per 256 images and base momentum 0.99
(the target must move within a short run).
"""

from dataclasses import dataclass

from torch import nn

from ssrl.collapse import collapse_stats
from ssrl.heads import mlp
from ssrl.losses import byol_loss
from ssrl.components.momentum import cosine_momentum, ema_update, frozen_copy
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class BYOLConfig:
    proj_hidden: int = 512        # the paper: 4096
    proj_dim: int = 128           # the paper: 256
    base_momentum: float = 0.99   # the paper: 0.996 over 1000 epochs


@register("byol", family="bootstrapping / self-distillation", modality="image",
          paper="Grill et al. 2020, Bootstrap Your Own Latent")
class BYOL(Pretext):
    Config = BYOLConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    bf16_checked = True  # B6 fm1k and digits, 3 seeds, fp32 against bf16 (BENCHMARKS.md, issue 21)
    large_image_params = {"proj_hidden": 4096, "proj_dim": 256, "base_momentum": 0.996}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: BYOLConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = nn.ModuleDict({                                            # k_γ
            "projector": mlp([backbone.dim, cfg.proj_hidden, cfg.proj_dim]),
            "predictor": mlp([cfg.proj_dim, cfg.proj_hidden, cfg.proj_dim]),
        })
        self.target = nn.ModuleDict({"backbone": frozen_copy(backbone), "projector": frozen_copy(self.head["projector"])})

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        proj = self.head["projector"](self.backbone(inputs))  # (2B, proj_dim)
        pred = self.head["predictor"](proj)
        target = self.target["projector"](self.target["backbone"](inputs))
        b = len(z) // 2
        return byol_loss(pred[:b], pred[b:], target[:b], target[b:]), collapse_stats(proj[:b])

    def on_after_optimizer_step(self, step: int, progress: float) -> None:
        m = cosine_momentum(progress, self.cfg.base_momentum)
        ema_update(self.target["backbone"], self.backbone, m)
        ema_update(self.target["projector"], self.head["projector"], m)
