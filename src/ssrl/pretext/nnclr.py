"""NNCLR. Dwibedi, Aytar, Tompson, Sermanet & Zisserman, 2021, arXiv:2104.14548.

P: two random views of every image. k_γ: a projector and a predictor. L: the positive of view
1 is not itself but its nearest neighbour NN(z1) in a support set of past projections; InfoNCE
of NN(z1_i) against the other view's predictions p2 of the (global) batch, positive p2_i,
symmetrized (eq. 2-3). The support set is a queue of view-1 projections. The nearest neighbour
is a stored vector, so gradients reach the network through the predictions only. Before the
first push the support set is empty and z1 itself stands in (the SimCLR-like first step).
The paper (ImageNet, ResNet-50): projector 2048 → 256 (3 layers), predictor 4096 hidden,
support set 98,304, τ = 0.1, LARS lr 4.8 at batch 4096, weight decay 1e-6. For small data and
short runs: 512 → 128, predictor hidden 512, support set 8192, AdamW lr 1e-3 per 256 images.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.collapse import collapse_stats
from ssrl.distributed import gather_with_grad, rank
from ssrl.heads import mlp
from ssrl.precision import in_float32
from ssrl.losses import info_nce
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.components.queue import EmbeddingQueue
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class NNCLRConfig:
    temperature: float = 0.1   # as the paper
    support_size: int = 8192   # the paper: 98,304
    proj_hidden: int = 512     # the paper: 2048
    proj_dim: int = 128        # the paper: 256
    pred_hidden: int = 512     # the paper: 4096


@torch.no_grad()
@in_float32  # bf16 similarities tie and reorder near neighbours
def nearest_neighbours(z: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """For each row of z (B, D), the row of ``support`` (N, D) with the highest cosine similarity."""
    sim = F.normalize(z, dim=1) @ F.normalize(support, dim=1).T
    return support[sim.argmax(dim=1)]


def nnclr_loss(nn1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of the neighbours nn1 (B, D) against the global batch of predictions p2 (B, D per
    process, gathered with gradient), both L2-normalized; the positive of row i is p2_i."""
    keys = gather_with_grad(F.normalize(p2, dim=1))
    positive = torch.arange(len(nn1), device=nn1.device) + rank() * len(nn1)
    return info_nce(F.normalize(nn1, dim=1), keys, positive, temperature)


@register("nnclr", family="contrastive instance discrimination", modality="image",
          paper="Dwibedi et al. 2021, With a Little Help from My Friends: Nearest-Neighbor Contrastive Learning")
class NNCLR(Pretext):
    Config = NNCLRConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"support_size": 98304, "proj_hidden": 2048, "proj_dim": 256, "pred_hidden": 4096}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: NNCLRConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        h, d = cfg.proj_hidden, cfg.proj_dim
        self.head = nn.ModuleDict({                                            # k_γ
            "projector": mlp([backbone.dim, h, h, d], last_bn=True),
            "predictor": mlp([d, cfg.pred_hidden, d]),
        })
        self.support = EmbeddingQueue(cfg.support_size, d)

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        b = len(z) // 2
        proj = self.head["projector"](self.backbone(inputs))
        pred = self.head["predictor"](proj)
        z1, z2 = proj[:b], proj[b:]
        support = self.support.get() if int(self.support.count) else z1.detach()
        tau = self.cfg.temperature
        loss = (nnclr_loss(nearest_neighbours(z1, support), pred[b:], tau)
                + nnclr_loss(nearest_neighbours(z2, support), pred[:b], tau)) / 2
        self.support.push(z1)
        return loss, collapse_stats(z1)
