"""Clip order prediction (VCOP). Xu, Xiao, Zhao, Shao, Xie & Zhuang, 2019, "Self-supervised
Spatiotemporal Learning via Video Clip Order Prediction" (CVPR).

P: from each video, ``clips`` clips of ``clip_frames`` consecutive frames, ``gap`` frames apart,
in time order from a random start; they are shown shuffled by one of the ``clips``! orderings
(lexicographic, ``permutations.all_permutations``), z = its index, drawn uniformly; position i
shows clip ``orders[z][i]``. Every frame then gets its own crop and colour jitter
(``clips.frame_views``). k_γ: the paper's order head: each clip's feature, every pair of them
concatenated in the order shown through one shared fully connected layer + ReLU, the pairs'
outputs concatenated, a linear layer to the ``clips``! classes. L: cross-entropy.

Departures: the paper encodes each clip (16 frames, 8 apart) with a 3-D CNN (C3D, R3D,
R(2+1)D); here with ``r2plus1d-mini`` (CPU-sized), or with any image backbone, a clip's feature
then being the mean of its frames' features (``ssrl.backbones.frames.pooled``), each frame's
feature being its last map pooled to 4 × 4 (``head_grid``, as in arrow_of_time); the default clips
(3 of 4 frames, 2 apart) fit a 16-frame video.
The gap keeps two clips from meeting at a frame boundary, where continuity alone would tell
their order. The optimizer is AdamW (the paper: SGD) at the library's default learning rate,
not tuned for this method yet.
"""

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.frames import frame_dim, pooled
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import (check_frames, frame_jitter, frame_views, gather_frames, head_grid, random_starts,
                               save_tuples)
from ssrl.pretext.permutations import all_permutations
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class ClipOrderConfig:
    clips: int = 3          # the paper's best tuple length: 3 clips, 6 orders (4: 24)
    clip_frames: int = 4    # consecutive frames per clip
    gap: int = 2            # frames between consecutive clips
    head_hidden: int = 512  # the paper's pairwise layer width
    head_grid: int | None = None  # a clip's feature: its frames' last maps pooled to N × N, averaged
                                  # (0: their h_θ(frame)); None: 4 where h_θ declares maps, else 0


class PairwiseOrderHead(nn.Module):
    """k_γ: clip features (B, N, D) in the order shown -> (B, N!) order logits (VCOP's head)."""

    def __init__(self, dim: int, clips: int, hidden: int, classes: int):
        super().__init__()
        self.first, self.second = (list(side) for side in zip(*itertools.combinations(range(clips), 2)))
        self.pair = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(inplace=True))  # shared by every pair
        self.out = nn.Linear(len(self.first) * hidden, classes)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        pairs = torch.cat([f[:, self.first], f[:, self.second]], dim=2)     # (B, P, 2D), P = N(N-1)/2
        return self.out(self.pair(pairs).flatten(1))


@register("clip_order", family="sequence / video", modality="video",
          paper="Xu et al. 2019, Self-supervised Spatiotemporal Learning via Video Clip Order Prediction")
class ClipOrder(Pretext):
    Config = ClipOrderConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=5e-4)  # weight decay: the paper's

    @classmethod
    def default_views(cls) -> ViewConfig:
        return frame_jitter()

    def __init__(self, backbone: nn.Module, cfg: ClipOrderConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.grid = head_grid(backbone, cfg.head_grid, self.name)
        orders = torch.tensor(all_permutations(cfg.clips), dtype=torch.long)      # (N!, N), a copy
        self.register_buffer("orders", orders, persistent=False)
        self.head = PairwiseOrderHead(frame_dim(backbone, self.grid), cfg.clips, cfg.head_hidden, len(orders))  # k_γ

    def span(self) -> int:
        """Frames from the first clip's start to the last clip's end."""
        return self.cfg.clips * self.cfg.clip_frames + (self.cfg.clips - 1) * self.cfg.gap

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        check_frames(x, self.span(), self.name)
        b, device = len(x), x.device
        z = torch.randint(0, len(self.orders), (b,), device=device)
        starts = random_starts(b, x.shape[1], self.span(), device)
        firsts = starts[:, None] + torch.arange(cfg.clips, device=device) * (cfg.clip_frames + cfg.gap)  # (B, N)
        shown = firsts.gather(1, self.orders[z])                            # position i: clip orders[z][i]
        frames = shown[:, :, None] + torch.arange(cfg.clip_frames, device=device)  # (B, N, L)
        return frame_views(self.views, gather_frames(x, frames.flatten(1))), z     # (B, N·L, C, S, S), (B,)

    def logits(self, inputs):                                                        # k_γ(h_θ(inputs))
        cfg = self.cfg
        clips = inputs.unflatten(1, (cfg.clips, cfg.clip_frames))                # (B, N, L, C, S, S)
        h = pooled(self.backbone, clips.flatten(0, 1), self.grid).unflatten(0, clips.shape[:2])  # (B, N, D·g²)
        return self.head(h)

    def loss(self, inputs, z):                                                       # L
        logits = self.logits(inputs)
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}

    def describe(self, z: int) -> str:
        return "clips in order " + "-".join(str(int(i) + 1) for i in self.orders[z])

    def save_artifacts(self, run_dir, sample):
        save_tuples(self, run_dir, sample)
