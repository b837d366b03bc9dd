"""VICReg. Bardes, Ponce & LeCun, 2022, arXiv:2105.04906.

P: two independent random views T(x) of every image (as SimCLR); z says which views belong
together. k_γ: an expander MLP (dim -> proj -> proj -> proj, BN + ReLU between layers).
L: λ·invariance (MSE between the views) + μ·variance (hinge keeping every dimension's std
above γ, per view) + ν·covariance (squared off-diagonal covariances, per view), with the
statistics over the global batch under DDP. The paper (ImageNet, ResNet-50) uses
λ = μ = 25, ν = 1, γ = 1, ε = 1e-4, an expander of 3 layers of 8192, batch 2048 and LARS
(base lr 0.2, weight decay 1e-6, 10 warm-up epochs); it reports no CIFAR setting. Without
LARS at short schedules we use AdamW (lr 1e-3 per 256 images), as for SimCLR.
"""

from dataclasses import dataclass

from torch import nn

from ssrl.heads import mlp
from ssrl.losses import vicreg_terms
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class VICRegConfig:
    sim_weight: float = 25.0   # λ, the paper's value
    var_weight: float = 25.0   # μ, the paper's value (μ = λ > 1 worked best in its ablation)
    cov_weight: float = 1.0    # ν, the paper's value
    gamma: float = 1.0         # γ, target std of every dimension (paper: 1)
    eps: float = 1e-4          # ε inside the std's square root (paper: 1e-4)
    proj_dim: int = 512        # the paper: 8192 (wider is better); 512 suits our small backbones


@register("vicreg", family="redundancy reduction", modality="image",
          paper="Bardes et al. 2022, VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning")
class VICReg(Pretext):
    Config = VICRegConfig
    # The paper uses LARS; AdamW at these settings trains stably on small backbones (as SimCLR).
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"proj_dim": 8192}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: VICRegConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        p = cfg.proj_dim
        self.head = mlp([backbone.dim, p, p, p])  # k_γ: the paper's 3-layer expander

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        p = self.head(self.backbone(inputs))            # (2B, proj_dim)
        b = len(z) // 2
        cfg = self.cfg
        inv, var, cov = vicreg_terms(p[:b], p[b:], cfg.gamma, cfg.eps)
        loss = cfg.sim_weight * inv + cfg.var_weight * var + cfg.cov_weight * cov
        logs = {"invariance": inv.detach(), "variance": var.detach(), "covariance": cov.detach()}
        return loss, logs
