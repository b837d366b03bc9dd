"""Cycle consistency: the contrastive random walk. Jabri, Owens & Efros 2020, "Space-Time
Correspondence as a Contrastive Random Walk" (NeurIPS), arXiv:2006.14613.

P: from each video, ``frames`` frames ``stride`` apart from a random start (motion-weighted, as
shuffle_and_learn draws its windows), each with its own mild crop and colour jitter
(``clips.frame_views``); there is no pseudolabel to draw (z is None): the target is the walk's
own start. k_γ: a 1×1 convolution of h_θ's last feature map to ``embed_dim``, L2-normalised: each
position of a frame's map is a node of the space-time graph. L: ``random_walk_loss``: walks from
every node of the first frame forward to frame k and back must return to their start, for every
k, with transitions softmax(similarity / τ) and edge dropout.

Departures: the paper's nodes are separately encoded patches of each frame (a 7×7 grid of
64 px crops, each with its own augmentation) and its frames 256 px; here the nodes are the
positions of one pass's feature map (7×7 for ``convnet-small`` at 28 px), far cheaper on a CPU,
and a walk has 4 frames, not the paper's 10. AdamW at lr 1e-3 per 256 clips, not the paper's
Adam 1e-4 over long schedules. The learned h_θ is read by ``--protocol propagate`` (label
propagation, the paper's evaluation) or by any frozen-feature probe.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.maps import features_and_maps, map_channels
from ssrl.losses.random_walk import random_walk_loss
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import check_frames, frame_jitter, frame_views, gather_frames, motion_weighted_starts
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class CycleConsistencyConfig:
    frames: int = 4             # frames per walk; the paper's 10 at 256 px
    stride: int = 2             # frames between consecutive walk frames: motion between them
    temperature: float = 0.07   # τ of the transitions (the paper's)
    edge_dropout: float = 0.1   # the paper's
    embed_dim: int = 128        # node embedding width (the paper: 128)


@register("cycle_consistency", family="correspondence (video)", modality="video",
          paper="Jabri et al. 2020, Space-Time Correspondence as a Contrastive Random Walk")
class CycleConsistency(Pretext):
    Config = CycleConsistencyConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-4)
    backbone_kinds = ("cnn",)
    needs_maps = True

    @classmethod
    def default_views(cls) -> ViewConfig:
        return frame_jitter()

    def __init__(self, backbone: nn.Module, cfg: CycleConsistencyConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = nn.Conv2d(map_channels(backbone)[-1], cfg.embed_dim, 1)  # k_γ

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        span = (cfg.frames - 1) * cfg.stride + 1
        check_frames(x, span, self.name)
        shown = motion_weighted_starts(x, span)[:, None] + torch.arange(cfg.frames, device=x.device) * cfg.stride
        return frame_views(self.views, gather_frames(x, shown)), None       # (B, K, C, S, S)

    def nodes(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, K, C, S, S) frames → (B, K, N, D) L2-normalised node embeddings, N the map's positions."""
        _, maps = features_and_maps(self.backbone, inputs.flatten(0, 1))
        q = self.head(maps[-1]).flatten(2).transpose(1, 2)                  # (B·K, N, D)
        return F.normalize(q.float(), dim=-1).unflatten(0, inputs.shape[:2])

    def loss(self, inputs, z):                                                       # L
        edge_dropout = self.cfg.edge_dropout if self.training else 0.0
        loss, accuracy = random_walk_loss(self.nodes(inputs), self.cfg.temperature, edge_dropout)
        return loss, {"pretext_acc": accuracy}
