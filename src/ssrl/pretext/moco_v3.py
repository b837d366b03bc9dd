"""MoCo v3. Chen, Xie & He, 2021, arXiv:2104.02057.

P: two random views of every image. k_γ: a projector and a predictor on the query encoder;
the momentum encoder (backbone + projector) is an EMA of it and takes no gradient. L: no
queue: each view's query is contrasted with the other view's keys of the whole (global) batch,
ctr(q, k) = 2τ · InfoNCE, symmetrized (§3, Algorithm 1). Works for ResNet and ViT backbones.
The paper: projector 3 layers and predictor 2 layers of 4096 → 256 with BN, momentum 0.99
rising to 1 on a cosine schedule, τ = 1.0 with LARS lr 0.3 × batch/256 for ResNet-50 (MoCo v3's
code) and τ = 0.2 with AdamW lr 1.5e-4 × batch/256, weight decay 0.1 for ViT. For small
backbones and short runs we use 512 → 128, τ = 0.2 and AdamW lr 1e-3 per 256 images.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.collapse import collapse_stats
from ssrl.distributed import gather_with_grad, rank
from ssrl.heads import mlp
from ssrl.losses import info_nce
from ssrl.components.momentum import cosine_momentum, ema_update, frozen_copy
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class MoCoV3Config:
    temperature: float = 0.2     # the paper: 0.2 (ViT), 1.0 (ResNet-50)
    proj_hidden: int = 512       # the paper: 4096
    proj_dim: int = 128          # the paper: 256
    base_momentum: float = 0.99  # as the paper


def moco_v3_loss(q: torch.Tensor, k: torch.Tensor, temperature: float) -> torch.Tensor:
    """ctr(q, k) = 2τ · InfoNCE of queries q (B, D) against the global batch of keys k (B, D per
    process; gathered, no gradient), both L2-normalized here; the positive of row i is key i."""
    q, k = F.normalize(q, dim=1), F.normalize(k.detach(), dim=1)
    positive = torch.arange(len(q), device=q.device) + rank() * len(q)
    return 2 * temperature * info_nce(q, gather_with_grad(k), positive, temperature)


@register("moco_v3", family="contrastive instance discrimination", modality="image",
          paper="Chen, Xie & He 2021, An Empirical Study of Training Self-Supervised Vision Transformers")
class MoCoV3(Pretext):
    Config = MoCoV3Config
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"proj_hidden": 4096, "proj_dim": 256}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: MoCoV3Config, views: nn.Module):
        super().__init__(backbone, cfg, views)
        h, d = cfg.proj_hidden, cfg.proj_dim
        self.head = nn.ModuleDict({                                            # k_γ
            "projector": mlp([backbone.dim, h, h, d], last_bn=True),
            "predictor": mlp([d, h, d], last_bn=True),
        })
        self.momentum_encoder = frozen_copy(nn.Sequential(backbone, self.head["projector"]))

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        b = len(z) // 2
        proj = self.head["projector"](self.backbone(inputs))
        q = self.head["predictor"](proj)
        k = self.momentum_encoder(inputs)
        tau = self.cfg.temperature
        loss = moco_v3_loss(q[:b], k[b:], tau) + moco_v3_loss(q[b:], k[:b], tau)
        return loss, collapse_stats(proj[:b])

    def on_after_optimizer_step(self, step: int, progress: float) -> None:
        m = cosine_momentum(progress, self.cfg.base_momentum)
        ema_update(self.momentum_encoder[0], self.backbone, m)
        ema_update(self.momentum_encoder[1], self.head["projector"], m)
