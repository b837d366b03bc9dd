"""Odd-one-out: which of N sub-sequences has its frames out of order? Fernando, Bilen, Gavves &
Gould, 2017, "Self-Supervised Video Representation Learning With Odd-One-Out Networks" (CVPR),
arXiv:1611.06646.

P: from each video, a question of ``questions`` sub-sequences of ``frames`` frames ``stride``
apart, each from its own random start; the odd one, at a position z drawn uniformly, has its
frames shuffled by a permutation drawn uniformly from those that are neither the identity nor the
reversal; the others are in time order. Every frame then gets its own crop and colour jitter
(``clips.frame_views``). k_γ: the paper's multi-branch network with shared weights: each
sub-sequence is encoded by one layer (+ ReLU), shared by all of them, on its frames' features
h_θ(frame) concatenated in the order shown (a clip backbone: on its feature of the sub-sequence,
``frames.clip_features``; each frame's feature being its last map pooled to 4 × 4, ``head_grid``,
as in arrow_of_time); the N encodings are fused by concatenation, in the
question's order, and a linear layer gives N logits, one per position. L: cross-entropy.

Departures: the paper feeds each branch a sub-sequence as one image (a dynamic image, a stack of
frames or of frame differences) to a CaffeNet; here h_θ is any image backbone on single frames, so
the features transfer to frames as they are, and the order within a sub-sequence is read by the
shared layer on its concatenated frame features. The paper reports a sum-of-differences fusion of
the branches as better than concatenation; concatenation is kept here because it leaves the
position of each sub-sequence explicit to the classifier, with no further choice to tune. The
paper's question has 6 sub-sequences; the default here is 4 of 3 frames each, the fewest for which
a shuffle need not be a reversal (a CPU-sized step on 16-frame videos: 4 frames a sub-sequence cost
a third more a question and, within B4's 10 CPU minutes, left the features level with random init;
BENCHMARKS.md). The reversal is no odd one here: on a video without an arrow of time a reversed
sub-sequence is as valid as the ordered ones, and telling it apart is arrow_of_time's task. A
static video's shuffled and ordered sub-sequences are the same frames, so its pretext accuracy
stays at chance (tested). The optimizer is AdamW at the library's default learning rate, not tuned
for this method yet.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.frames import clip_dim, clip_features
from ssrl.errors import SsrlError
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import (check_frames, frame_jitter, frame_views, gather_frames, head_grid, random_starts,
                               save_tuples)
from ssrl.pretext.permutations import all_permutations
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class OddOneOutConfig:
    questions: int = 4              # sub-sequences per question, N (the paper: 6)
    frames: int = 3                 # frames per sub-sequence: 3 or more, so a shuffle need not be a reversal
    stride: int = 2                 # between a sub-sequence's consecutive frames
    head_hidden: int | None = None  # width of the shared sub-sequence encoding; None = the backbone's
    head_grid: int | None = None    # k_γ reads each frame's last map pooled to N × N (0: h_θ(frame));
                                    # None: 4 where h_θ declares its maps, else 0 (clips.head_grid)


class OddOneOutHead(nn.Module):
    """k_γ: sub-sequence features (B, N, F) in the order shown -> (B, N) logits of the odd position."""

    def __init__(self, dim: int, questions: int, hidden: int):
        super().__init__()
        self.encode = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True))  # every branch's
        self.fuse = nn.Linear(questions * hidden, questions)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.encode(h).flatten(1))                        # (B, N, F) -> (B, N·E) -> (B, N)


@register("odd_one_out", family="sequence / video", modality="video",
          paper="Fernando et al. 2017, Self-Supervised Video Representation Learning With Odd-One-Out Networks")
class OddOneOut(Pretext):
    Config = OddOneOutConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-4)

    @classmethod
    def default_views(cls) -> ViewConfig:
        return frame_jitter()

    def __init__(self, backbone: nn.Module, cfg: OddOneOutConfig, views: nn.Module):
        if cfg.questions < 2 or cfg.frames < 3 or cfg.stride < 1:
            raise SsrlError(f"odd_one_out needs questions ≥ 2, frames ≥ 3 (with 2, the only shuffle is the "
                            f"reversal) and stride ≥ 1; got questions={cfg.questions}, frames={cfg.frames}, "
                            f"stride={cfg.stride}")
        super().__init__(backbone, cfg, views)
        self.grid = head_grid(backbone, cfg.head_grid, self.name)
        shuffles = torch.tensor(all_permutations(cfg.frames)[1:-1], dtype=torch.long)  # lexicographic: drop identity, reversal
        self.register_buffer("shuffles", shuffles, persistent=False)   # (L! - 2, L)
        width = backbone.dim if cfg.head_hidden is None else cfg.head_hidden
        self.head = OddOneOutHead(clip_dim(backbone, cfg.frames, self.grid), cfg.questions, width)  # k_γ

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        span = (cfg.frames - 1) * cfg.stride + 1
        check_frames(x, span, self.name)
        b, n, device = len(x), cfg.questions, x.device
        z = torch.randint(0, n, (b,), device=device)                       # the odd one's position
        order = torch.arange(cfg.frames, device=device).expand(b, n, cfg.frames).clone()  # (B, N, L)
        shuffle = self.shuffles[torch.randint(0, len(self.shuffles), (b,), device=device)]
        order[torch.arange(b, device=device), z] = shuffle
        starts = random_starts(b * n, x.shape[1], span, device).view(b, n, 1)
        shown = starts + order * cfg.stride                                 # (B, N, L) frame indices
        return frame_views(self.views, gather_frames(x, shown.flatten(1))), z  # (B, N·L, C, S, S), (B,)

    def logits(self, inputs):                                                        # k_γ(h_θ(inputs))
        cfg = self.cfg
        subsequences = inputs.unflatten(1, (cfg.questions, cfg.frames))    # (B, N, L, C, S, S)
        h = clip_features(self.backbone, subsequences.flatten(0, 1), self.grid).unflatten(0, subsequences.shape[:2])
        return self.head(h)                                                 # h: (B, N, L·D) or (B, N, D)

    def loss(self, inputs, z):                                                       # L
        logits = self.logits(inputs)
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}

    def describe(self, z: int) -> str:
        return f"sequence {z + 1} of {self.cfg.questions} shuffled"

    def save_artifacts(self, run_dir, sample):
        save_tuples(self, run_dir, sample)
