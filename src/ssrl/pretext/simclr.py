"""SimCLR. Chen, Kornblith, Norouzi & Hinton, 2020, arXiv:2002.05709.

P: two independent random views T(x) of every image; z says which views belong together.
k_γ: a projection MLP (dim -> dim -> 128, BN + ReLU). L: NT-Xent over the 2N views, the other
2(N-1) views of the (global) batch as negatives. The paper uses τ = 0.1 for ImageNet, 0.5 for CIFAR-10, and
LARS at lr 1.0 × batch/256 for batches of 256–1024; without LARS at short schedules we use
AdamW (lr 1e-3 per 256 images), which trains stably on small backbones.
"""

from dataclasses import dataclass

from torch import nn

from ssrl.heads import mlp
from ssrl.losses import nt_xent
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class SimCLRConfig:
    temperature: float = 0.1   # the paper's ImageNet value; best on Fashion-MNIST (BENCHMARKS.md, "How τ was chosen")
    proj_dim: int = 128        # the paper: output size matters little; 128 is its default
    proj_hidden: int = 0       # 0 = the backbone's width, as in the paper


@register("simclr", family="contrastive instance discrimination", modality="image",
          paper="Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations")
class SimCLR(Pretext):
    Config = SimCLRConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_views = IMAGENET_VIEWS
    small_image_params = {"temperature": 0.5}  # the paper's CIFAR-10 τ; best on 8 px digits (same section)
    bf16_checked = True  # B6 fm1k and digits, 3 seeds, fp32 against bf16 (BENCHMARKS.md, issue 21)
    compile_checked = True  # model + loss step faster compiled at fp32 and bf16 (BENCHMARKS.md, issue 21)

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: SimCLRConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = mlp([backbone.dim, cfg.proj_hidden or backbone.dim, cfg.proj_dim])  # k_γ

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        p = self.head(self.backbone(inputs))            # (2B, proj_dim)
        b = len(z) // 2
        return nt_xent(p[:b], p[b:], self.cfg.temperature), {}
