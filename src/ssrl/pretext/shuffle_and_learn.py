"""Shuffle and Learn: are three frames in temporal order? Misra, Zitnick & Hebert, 2016, "Shuffle
and Learn: Unsupervised Learning using Temporal Order Verification" (ECCV), arXiv:1603.08561.

P: per video, a window of ``span`` frames drawn with probability proportional to its motion (the
mean absolute difference between consecutive frames, summed over the window, plus a small epsilon
so that a static video's windows are equally likely: ``clips.motion_weighted_starts``); in it five
frames f0 < f1 < f2 < f3 < f4, at least ``min_gap`` apart, uniform over such choices. Half the batch
(⌊B/2⌋ videos, at random) is positive, z = 1: (a, b, c) = (f1, f2, f3), the middle frame between the
outer two; the rest negative, z = 0: (a, d, c) with d = f0 or f4 (at random), a frame of the same
window outside [a, c]. Either is shown forward or reversed (c, ·, a), at random: the paper counts
a reversed positive as positive. Then every frame gets its own crop and colour jitter
(``clips.frame_views``). k_γ: an MLP on the three frames' features concatenated in the order
shown (the paper concatenates the frames' fc7 features, a triplet Siamese network), each frame's
feature being its last feature map pooled to 4 × 4 (``head_grid``; ``frames.per_frame_grid``; 0
gives h_θ(frame), the globally pooled feature). L: cross-entropy.

Why a grid: CaffeNet's fc6 reads pool5's spatial map, so the paper's head sees where things are.
A head on the globally pooled feature does not; on one digit moving over black, where order is
told by position, h_θ then learns to encode position in its channels (through the borders' zero
padding) and loses the digit's shape (BENCHMARKS.md, B4: digit kNN far under random init; with
the grid, level with it or above).

Departures: the paper's motion is coarse optical flow; here it is frame differences on the batch
itself (no flow to compute, and on array videos of one moving object the two agree on where the
motion is). The paper shows its negatives forward only; here they are reversed as often as the
positives, so the direction of the outer frames says nothing about the label. Its backbone is
CaffeNet on 227 px frames; here h_θ is any image backbone, and the defaults fit 16-frame 32 px
videos. A static video's positives and negatives are the same frame three times, so its pretext
accuracy stays at chance (tested). The optimizer is AdamW (the paper: SGD) at the library's
default learning rate, not tuned for this method yet.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.frames import frame_dim, frame_features
from ssrl.errors import SsrlError
from ssrl.heads import mlp
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import (check_frames, frame_jitter, frame_views, gather_frames, head_grid,
                               motion_weighted_starts, save_tuples)
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

DRAWN = 5  # frames drawn per window: the tuple's three and one outside it on either side


@dataclass
class ShuffleAndLearnConfig:
    span: int = 12                  # window the five frames come from, chosen by its motion
    min_gap: int = 2                # frames between consecutive drawn frames, at least: visible motion
    head_hidden: int | None = None  # MLP head width; None = the backbone's width, 0 = a linear head
    head_grid: int | None = None    # k_γ reads each frame's last map pooled to N × N (0: h_θ(frame));
                                    # None: 4 where h_θ declares its maps, else 0 (clips.head_grid)


def ordered_frames(b: int, span: int, min_gap: int, device: torch.device) -> torch.Tensor:
    """(B, 5) offsets f0 < ... < f4 in a window of ``span`` frames, consecutive ones at least
    ``min_gap`` apart, uniform over such choices: 5 distinct values of span - 4 (min_gap - 1),
    sorted, with (min_gap - 1) slots added after each (a one-to-one map onto the gapped tuples)."""
    free = span - (DRAWN - 1) * (min_gap - 1)
    picks = torch.rand(b, free, device=device).argsort(1)[:, :DRAWN].sort(1).values
    return picks + torch.arange(DRAWN, device=device) * (min_gap - 1)


@register("shuffle_and_learn", family="sequence / video", modality="video",
          paper="Misra et al. 2016, Shuffle and Learn: Unsupervised Learning using Temporal Order Verification")
class ShuffleAndLearn(Pretext):
    Config = ShuffleAndLearnConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-4)
    bf16_checked = True  # B4 moving-digits, 3 seeds, fp32 against bf16 at the same steps (BENCHMARKS.md, issue 25)

    @classmethod
    def default_views(cls) -> ViewConfig:
        return frame_jitter()

    def __init__(self, backbone: nn.Module, cfg: ShuffleAndLearnConfig, views: nn.Module):
        if cfg.min_gap < 1 or cfg.span < (DRAWN - 1) * cfg.min_gap + 1:
            raise SsrlError(f"shuffle_and_learn draws {DRAWN} frames at least min_gap apart from a window of span "
                            f"frames: min_gap must be at least 1 and span at least {DRAWN - 1}·min_gap + 1 = "
                            f"{(DRAWN - 1) * max(cfg.min_gap, 1) + 1}; got span={cfg.span}, min_gap={cfg.min_gap}")
        super().__init__(backbone, cfg, views)
        self.grid = head_grid(backbone, cfg.head_grid, self.name)
        width = backbone.dim if cfg.head_hidden is None else cfg.head_hidden
        self.head = mlp([3 * frame_dim(backbone, self.grid), *([width] if width else []), 2])   # k_γ

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        check_frames(x, cfg.span, self.name)
        b, device = len(x), x.device
        z = torch.zeros(b, dtype=torch.long, device=device)
        z[torch.randperm(b, device=device)[:b // 2]] = 1                    # 1: in order, 0: not
        f = motion_weighted_starts(x, cfg.span)[:, None] + ordered_frames(b, cfg.span, cfg.min_gap, device)
        outside = torch.where(torch.rand(b, device=device) < 0.5, f[:, 0], f[:, 4])  # d, before a or after c
        middle = torch.where(z == 1, f[:, 2], outside)
        shown = torch.stack([f[:, 1], middle, f[:, 3]], dim=1)              # (B, 3): (a, b or d, c)
        reverse = torch.rand(b, device=device) < 0.5                        # drawn whatever z is
        shown = torch.where(reverse[:, None], shown.flip(1), shown)
        return frame_views(self.views, gather_frames(x, shown)), z           # (B, 3, C, S, S), (B,)

    def logits(self, inputs):                                                        # k_γ(h_θ(inputs))
        return self.head(frame_features(self.backbone, inputs, self.grid).flatten(1))  # (B, 3·D·g²) -> (B, 2)

    def loss(self, inputs, z):                                                       # L
        logits = self.logits(inputs)
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}

    def describe(self, z: int) -> str:
        return "in order" if z == 1 else "middle frame from outside"

    def save_artifacts(self, run_dir, sample):
        save_tuples(self, run_dir, sample)
