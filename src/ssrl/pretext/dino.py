"""DINO. Caron et al., 2021, arXiv:2104.14294.

P: multi-crop: two global views and ``n_local`` small local views of every image. k_γ: the DINO
head: an MLP dim → hidden → hidden → 256 (GELU, no BN), L2-normalization, then a linear layer
onto K prototypes, weight-normalized with its norm g fixed to 1. The teacher (backbone + head)
is an EMA of the student and takes no gradient; it sees only the global views. L: the
cross-entropy between the teacher's centred, sharpened softmax and the student's softmax over
every pair of different views (``ssrl.losses.distillation``); the centre is a running mean of
the teacher's logits (a buffer, so checkpoints keep it). Logs the collapse monitor of the
student's normalized bottleneck and the teacher's entropy (log K: uniform collapse; 0: one-hot).

The paper (ImageNet, ViT-S/16): K = 65536, hidden 2048; 2 global views of 224 px at scale
0.4–1 and 6–10 local views of 96 px at scale 0.05–0.4; τ_s = 0.1, τ_t warmed up linearly from
0.04 to 0.07 over the first 30 epochs; centre momentum 0.9; teacher momentum 0.996 → 1
(cosine); AdamW lr 5e-4 × batch/256 with 10 warm-up epochs, weight decay 0.04 → 0.4;
gradients clipped at 3; the last layer frozen during the first epoch; 100–800 epochs. Images of
``LARGE_IMAGE`` px or more get its K, hidden width and 8 local views (``large_image_params``).
For 28 px images and runs of a few epochs we use K = 4096, hidden 512, no local views (local
views of 12 px, 96/224 of 28 px, scored worse on B1 on both kNN and the linear probe, as for
SwAV; a choice made on B1 test figures), the warm-ups as fractions of training (τ_t over 30%,
like 30 of 100 epochs), a fixed weight decay of 0.04 (the engine has no schedule for it) and no
gradient clipping (the engine has no hook for it). Blur and solarization are left out, as SimCLR does for 32 px images.

The paper evaluates the teacher; ``self.backbone``, the student, is what the engine exports
and what ``ssrl evaluate`` scores.

Figures: BENCHMARKS.md, "B1" (the DINO items and the short-schedule variants) and "DINO at 10
epochs".
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.collapse import collapse_stats
from ssrl.losses.distillation import dino_loss, teacher_distribution, update_center
from ssrl.components.momentum import cosine_momentum, ema_update, frozen_copy
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.pairs import multi_crop_pseudolabels
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class DINOConfig:
    out_dim: int = 4096                 # K prototypes; the paper: 65536 (ImageNet)
    hidden_dim: int = 512               # the paper: 2048
    bottleneck_dim: int = 256           # as the paper
    n_local: int = 0                    # the paper: 6-10 (``large_image_params``: 8); 12 px views did not help 28 px images
    local_size: int = 0                 # px; 0 = 96/224 of the global size (12 px for 28 px), whole ViT patches
    local_scale: tuple[float, float] = (0.05, 0.4)  # as the paper
    student_temp: float = 0.1           # as the paper
    teacher_temp: float = 0.07          # τ_t after the warm-up, as the paper
    warmup_teacher_temp: float = 0.04   # τ_t at the start, as the paper
    warmup_teacher_temp_frac: float = 0.3  # fraction of training; the paper: 30 of 100 epochs
    center_momentum: float = 0.9        # as the paper
    base_momentum: float = 0.996        # teacher EMA, raised to 1 on a cosine; as the paper
    freeze_last_layer: float = 0.01     # fraction of training; the paper: 1 epoch of 100


def teacher_temperature(progress: float | torch.Tensor, start: float, end: float, warmup: float) -> torch.Tensor:
    """τ_t once ``progress`` (the fraction of training done) is reached: linear from ``start`` to
    ``end`` over the first ``warmup`` of training, then ``end``."""
    progress = torch.as_tensor(progress, dtype=torch.float32)
    ramp = torch.ones_like(progress) if warmup <= 0 else (progress / warmup).clamp(0.0, 1.0)
    return start + (end - start) * ramp


def _scale_grad(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x`` in the forward pass, ``scale`` × its gradient in the backward pass."""
    return x.detach() + scale * (x - x.detach())


class DINOHead(nn.Module):
    """k_γ: MLP → L2-normalize → weight-normalized linear (g = 1) onto K prototypes."""

    def __init__(self, dim: int, hidden: int, bottleneck: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.last_layer = nn.Linear(bottleneck, out_dim, bias=False)  # v; W = v / ‖v‖ row by row
        for m in self.modules():  # the paper's init
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def bottleneck(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(h), dim=-1)                          # (N, bottleneck), unit rows

    def prototypes(self, z: torch.Tensor, grad_scale: torch.Tensor | None = None) -> torch.Tensor:
        # Weight norm with g fixed to 1 is v's rows normalized. Freezing scales v's gradient by 0
        # rather than dropping it: DDP needs a gradient for every parameter (as a zero, AdamW's
        # decay only rescales v, which the normalization ignores).
        v = self.last_layer.weight if grad_scale is None else _scale_grad(self.last_layer.weight, grad_scale)
        return F.linear(z, F.normalize(v, dim=1))                         # (N, K)

    def forward(self, h: torch.Tensor, grad_scale: torch.Tensor | None = None) -> torch.Tensor:
        return self.prototypes(self.bottleneck(h), grad_scale)


@register("dino", family="bootstrapping / self-distillation", modality="image",
          paper="Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers")
class DINO(Pretext):
    Config = DINOConfig
    optimizer = OptimizerDefaults(name="adamw", lr=5e-4, weight_decay=0.04, warmup_epochs=0.3)
    large_image_params = {"out_dim": 65536, "hidden_dim": 2048, "n_local": 8}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig(crop_scale=(0.4, 1.0))  # the paper's global crops

    def __init__(self, backbone: nn.Module, cfg: DINOConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = DINOHead(backbone.dim, cfg.hidden_dim, cfg.bottleneck_dim, cfg.out_dim)  # k_γ
        self.teacher = nn.ModuleDict({"backbone": frozen_copy(backbone), "head": frozen_copy(self.head)})
        self.register_buffer("center", torch.zeros(cfg.out_dim))    # c, a running mean of the teacher's logits
        self.register_buffer("progress", torch.zeros(()))           # fraction of training done, for the schedules

    def pseudolabels(self, x, index=None):          # P
        return multi_crop_pseudolabels(self.views, self.backbone, x, self.cfg.n_local, self.cfg.local_size,
                                       self.cfg.local_scale)

    def loss(self, inputs, z):                          # L
        global_views, small = inputs
        cfg, b = self.cfg, len(global_views) // 2
        keep_last = (self.progress >= cfg.freeze_last_layer).float()  # 0 while the last layer is frozen
        bottleneck = self.head.bottleneck(self.backbone(global_views))  # (2B, 256)
        student = self.head.prototypes(bottleneck, keep_last)           # (2B, K)
        if len(small):
            student = torch.cat([student, self.head(self.backbone(small), keep_last)])  # ((2+n)·B, K)
        with torch.no_grad():
            teacher = self.teacher["head"](self.teacher["backbone"](global_views)).chunk(2)  # 2 × (B, K)
        tau_t = teacher_temperature(self.progress, cfg.warmup_teacher_temp, cfg.teacher_temp,
                                    cfg.warmup_teacher_temp_frac).to(self.center.device)
        loss = dino_loss(list(student.split(b)), list(teacher), self.center, cfg.student_temp, tau_t)
        with torch.no_grad():
            p_t = teacher_distribution(torch.cat(teacher), self.center, tau_t)
            entropy = -(p_t * p_t.clamp_min(1e-12).log()).sum(dim=-1).mean()
            self.center.copy_(update_center(self.center, teacher, cfg.center_momentum))  # after its use
        return loss, {**collapse_stats(bottleneck[:b]), "teacher_entropy": entropy, "teacher_temp": tau_t}

    def on_after_optimizer_step(self, step: int, progress: float) -> None:
        self.progress.fill_(progress)
        m = cosine_momentum(progress, self.cfg.base_momentum)
        ema_update(self.teacher["backbone"], self.backbone, m)
        ema_update(self.teacher["head"], self.head, m)
