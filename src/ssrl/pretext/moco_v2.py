"""MoCo v2. He et al. 2020 (MoCo, arXiv:1911.05722); Chen, Fan, Girshick & He 2020 (v2,
arXiv:2003.04297).

P: two random views of every image. k_γ: a projection MLP on the query encoder; the key
encoder (backbone + projector) is an EMA of it and takes no gradient. L: InfoNCE of each query
against its key (the other view through the key encoder), the batch's other keys and a queue of
keys from past batches as negatives; symmetrized over the two views, and both views' keys are
enqueued after the step. The key encoder runs with shuffled BN (MoCo §3.3): its batch is
permuted before BN and restored after, so no query sees batch statistics shared with its own
positive; under DDP the permutation crosses processes, in one process the permuted batch runs
in ``bn_splits`` sub-batches, which computes the same as that many processes.
The papers (ImageNet, ResNet-50): queue 65536, τ = 0.2 (v2), momentum 0.999, MLP head 2048 →
128, SGD lr 0.03 × batch/256, weight decay 1e-4, 200 epochs, one asymmetric loss. For small
data and short runs we use a queue of 4096 (about 7% of 60,000 images, ImageNet's share is 5%),
τ = 0.1 (our SimCLR setting), momentum 0.99 rising to 1 on BYOL's cosine schedule, the
symmetrized loss (as MoCo v3) and AdamW lr 1e-3 per 256 images.
"""

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ssrl.distributed import gather_with_grad, rank, world_size
from ssrl.heads import mlp
from ssrl.losses import info_nce
from ssrl.components.momentum import cosine_momentum, ema_update, frozen_copy
from ssrl.pretext.base import IMAGENET_VIEWS, OptimizerDefaults, Pretext
from ssrl.pretext.pairs import two_views
from ssrl.components.queue import EmbeddingQueue
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class MoCoV2Config:
    temperature: float = 0.1     # v2: 0.2
    queue_size: int = 4096       # the paper: 65536
    proj_dim: int = 128          # as the paper
    proj_hidden: int = 0         # 0 = the backbone's width (v2: 2048 for ResNet-50's 2048)
    base_momentum: float = 0.99  # the paper: 0.999, constant
    bn_splits: int = 2           # shuffled BN sub-batches when running in one process


@torch.no_grad()
def shuffled_forward(encoder: nn.Module, x: torch.Tensor, splits: int) -> torch.Tensor:
    """encoder(x) with shuffled BN: the (global) batch is permuted, cut into parts that each run
    through the encoder alone, and the outputs are put back in the input order.

    Under DDP the parts are the processes (rank 0 draws the permutation of the gathered batch);
    in one process they are ``splits`` sub-batches of a local permutation."""
    w = world_size()
    if w > 1:
        xs = gather_with_grad(x)
        perm = torch.randperm(len(xs), device=x.device)
        dist.broadcast(perm, src=0)
        y = gather_with_grad(encoder(xs[perm.chunk(w)[rank()]]))
        out = torch.empty_like(y)
        out[perm] = y
        return out.chunk(w)[rank()]
    perm = torch.randperm(len(x), device=x.device)
    y = torch.cat([encoder(part) for part in x[perm].chunk(splits)])
    out = torch.empty_like(y)
    out[perm] = y
    return out


def moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of normalized queries q (B, D) against their keys k (B, D) (this process's
    rows of the global batch), every process's keys and the queue (K, D) as negatives."""
    keys = torch.cat([gather_with_grad(k.detach()), queue])
    positive = torch.arange(len(q), device=q.device) + rank() * len(q)
    return info_nce(q, keys, positive, temperature)


@register("moco_v2", family="contrastive instance discrimination", modality="image",
          paper="Chen et al. 2020, Improved Baselines with Momentum Contrastive Learning")
class MoCoV2(Pretext):
    Config = MoCoV2Config
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"queue_size": 65536, "temperature": 0.2, "base_momentum": 0.999}
    large_image_views = IMAGENET_VIEWS

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.simclr()

    def __init__(self, backbone: nn.Module, cfg: MoCoV2Config, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = mlp([backbone.dim, cfg.proj_hidden or backbone.dim, cfg.proj_dim])  # k_γ
        self.key_encoder = frozen_copy(nn.Sequential(backbone, self.head))
        self.queue = EmbeddingQueue(cfg.queue_size, cfg.proj_dim)

    def pseudolabels(self, x, index=None):          # P
        return two_views(self.views, x)                 # (2B, C, S, S), (2B,)

    def loss(self, inputs, z):                          # L
        b = len(z) // 2
        q = F.normalize(self.head(self.backbone(inputs)), dim=1)
        k = F.normalize(shuffled_forward(self.key_encoder, inputs, self.cfg.bn_splits), dim=1)
        negatives = self.queue.get()
        tau = self.cfg.temperature
        loss = (moco_loss(q[:b], k[b:], negatives, tau) + moco_loss(q[b:], k[:b], negatives, tau)) / 2
        self.queue.push(k)
        return loss, {}

    def on_after_optimizer_step(self, step: int, progress: float) -> None:
        m = cosine_momentum(progress, self.cfg.base_momentum)
        ema_update(self.key_encoder[0], self.backbone, m)
        ema_update(self.key_encoder[1], self.head, m)
