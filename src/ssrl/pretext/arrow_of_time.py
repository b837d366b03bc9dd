"""Arrow of time: is a clip playing forward or backward? Wei, Lim, Zisserman & Freeman, 2018,
"Learning and Using the Arrow of Time" (CVPR).

P: from each video, ``frames`` frames ``stride`` apart from a random start; half the batch
(⌊B/2⌋ videos, drawn at random) keeps them in time order (z = 1), the other half gets them
reversed (z = 0); then every frame gets its own crop and colour jitter (``clips.frame_views``).
k_γ: an MLP on the frames' features h_θ(frame) concatenated in the order shown (a clip backbone:
on its feature of the frames as a clip, ``frames.clip_features``), each frame's feature being its
last feature map pooled to 4 × 4 (``head_grid``, 0: h_θ(frame)), so that k_γ sees where things
are and h_θ need not encode position in its pooled feature (shuffle_and_learn says why).
L: cross-entropy.

Departures: the paper classifies stacks of optical flow with a VGG-16 per time chunk fused in
time order (its T-CAM); here h_θ is any image backbone on raw frames, fused by concatenation,
so the features transfer to frames as they are. Its data cleaning (black borders, camera motion)
has nothing to remove in array data; what the frames' low-level statistics could still give away
is drawn per frame by the views. A static video has no arrow: its forward and reversed inputs
are the same draw, so its pretext accuracy stays at chance (tested). The optimizer is AdamW at
the library's default learning rate, not tuned for this method yet.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.frames import clip_dim, clip_features
from ssrl.heads import mlp
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import (check_frames, frame_jitter, frame_views, gather_frames, head_grid, random_starts,
                               save_tuples)
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class ArrowOfTimeConfig:
    frames: int = 4                 # frames per clip shown to k_γ
    stride: int = 2                 # between consecutive frames: more motion between them than 1
    head_hidden: int | None = None  # MLP head width; None = the backbone's width, 0 = a linear head
    head_grid: int | None = None    # k_γ reads each frame's last map pooled to N × N (0: h_θ(frame));
                                    # None: 4 where h_θ declares its maps, else 0 (clips.head_grid)


@register("arrow_of_time", family="sequence / video", modality="video",
          paper="Wei et al. 2018, Learning and Using the Arrow of Time")
class ArrowOfTime(Pretext):
    Config = ArrowOfTimeConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-4)
    bf16_checked = True  # B4 moving-digits, 3 seeds, fp32 against bf16 at the same steps (BENCHMARKS.md, issue 25)

    @classmethod
    def default_views(cls) -> ViewConfig:
        return frame_jitter()

    def __init__(self, backbone: nn.Module, cfg: ArrowOfTimeConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.grid = head_grid(backbone, cfg.head_grid, self.name)
        width = backbone.dim if cfg.head_hidden is None else cfg.head_hidden
        self.head = mlp([clip_dim(backbone, cfg.frames, self.grid), *([width] if width else []), 2])  # k_γ

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        span = (cfg.frames - 1) * cfg.stride + 1
        check_frames(x, span, self.name)
        b = len(x)
        z = torch.zeros(b, dtype=torch.long, device=x.device)
        z[torch.randperm(b, device=x.device)[:b // 2]] = 1                  # 1: forward, 0: reversed
        steps = torch.arange(cfg.frames, device=x.device) * cfg.stride      # (K,)
        order = torch.where(z[:, None] == 1, steps, steps.flip(0))          # (B, K)
        shown = random_starts(b, x.shape[1], span, x.device)[:, None] + order
        return frame_views(self.views, gather_frames(x, shown)), z           # (B, K, C, S, S), (B,)

    def logits(self, inputs):                                                        # k_γ(h_θ(inputs))
        return self.head(clip_features(self.backbone, inputs, self.grid))  # (B, K·D·g²) or (B, D) -> (B, 2)

    def loss(self, inputs, z):                                                       # L
        logits = self.logits(inputs)
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}

    def describe(self, z: int) -> str:
        return "forward" if z == 1 else "reversed"

    def save_artifacts(self, run_dir, sample):
        save_tuples(self, run_dir, sample)
