"""Barlow Twins. Zbontar, Jing, Misra, LeCun & Deny, 2021, arXiv:2103.03230.

P: two independent random views T(x) of every image (as SimCLR); z says which views belong
together. k_γ: a projector MLP (dim -> proj -> proj -> proj, BN + ReLU between layers).
L: the cross-correlation C of the two views' batch-standardized projections is pushed to the
identity, L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij², over the global batch under DDP.
The paper (ImageNet, ResNet-50) uses a projector of 3 layers of 8192, λ = 5e-3, batch 2048,
and LARS (lr 0.2 for weights, 0.0048 for biases and BN, weight decay 1.5e-6, 10 warm-up
epochs); it reports no CIFAR setting. Without LARS at short schedules we use AdamW
(lr 1e-3 per 256 images), as for SimCLR.
"""

from dataclasses import dataclass

from torch import nn

from ssrl.heads import mlp
from ssrl.losses import barlow_twins
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class BarlowTwinsConfig:
    lambda_offdiag: float = 5e-3  # the paper's λ (tuned for 8192 dims; it is robust around it)
    proj_dim: int = 512           # the paper: 8192 (wider is better); 512 suits our small backbones


@register("barlow_twins", family="redundancy reduction", modality="image",
          paper="Zbontar et al. 2021, Barlow Twins: Self-Supervised Learning via Redundancy Reduction")
class BarlowTwins(Pretext):
    Config = BarlowTwinsConfig
    # The paper uses LARS; AdamW at these settings trains stably on small backbones (as SimCLR).
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"proj_dim": 8192}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: BarlowTwinsConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        p = cfg.proj_dim
        self.head = mlp([backbone.dim, p, p, p])  # k_γ: the paper's 3-layer projector

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        p = self.head(self.backbone(inputs))            # (2B, proj_dim)
        b = len(z) // 2
        return barlow_twins(p[:b], p[b:], self.cfg.lambda_offdiag), {}
