"""Tracking: patches followed through a video are the same thing. Wang & Gupta 2015,
"Unsupervised Learning of Visual Representations using Videos" (ICCV), arXiv:1505.00687.

P: before training, every video of D_s gets a point track (``ssrl.data.tracks``: corners followed
by Lucas–Kanade optical flow; the farthest-travelled point). For each video of a batch, two frames
s < t at least ``min_gap`` apart; the patch of side ``patch`` around the track at frame s (the
anchor, X) and at frame t (the tracked patch, X⁺), and a patch at a random place and frame of
another video of the batch (X⁻); each gets its own mild crop and colour jitter. k_γ: an MLP on
h_θ(patch) to a 128-d embedding. L: the paper's ranking loss with the cosine distance
D(a, b) = 1 − cos(a, b) and margin M = 0.5: max(0, D(X, X⁺) − D(X, X⁻) + M). In the first epoch
each anchor meets one random negative; from the second on, the paper's hard-negative mining:
every other video's patch of the batch is a candidate, and the loss is the mean of the ``hard``
largest (the paper: 4).

Departures: the paper follows SURF points of moving regions (found by dense trajectories) with a
KCF tracker over 30 frames of 227 px patches; here Shi–Tomasi corners and Lucas–Kanade over
a clip's frames, patches of half the frame's side. Its AlexNet siamese towers with fc layers are
any backbone with an MLP. SGD in the paper; AdamW here, as for the other video methods.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.data.tracks import track_videos
from ssrl.heads import mlp
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.clips import check_frames, frame_jitter
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class TrackingConfig:
    patch: int = 0          # patch side in px; 0 = half the frame's side
    min_gap: int = 4        # frames between the anchor and the tracked patch, at least
    margin: float = 0.5     # M of the ranking loss (the paper's)
    hard: int = 4           # negatives kept by hard-negative mining (the paper's K)
    embed_dim: int = 128


def cut_patches(frames: torch.Tensor, centres: torch.Tensor, side: int) -> torch.Tensor:
    """Patches (B, C, side, side) of frames (B, C, H, W) around centres (B, 2) (x, y), moved
    inside the frame where they would cross its border."""
    h, w = frames.shape[-2:]
    x0 = (centres[:, 0].round().long() - side // 2).clamp(0, w - side)
    y0 = (centres[:, 1].round().long() - side // 2).clamp(0, h - side)
    step = torch.arange(side, device=frames.device)
    rows, cols = (y0[:, None] + step)[:, :, None], (x0[:, None] + step)[:, None, :]  # (B, side, 1), (B, 1, side)
    b = torch.arange(len(frames), device=frames.device)[:, None, None]
    return frames.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2)  # one gather, no loop over the batch


def ranking_loss(anchor: torch.Tensor, positive: torch.Tensor, candidates: torch.Tensor, margin: float,
                 hard: int | None) -> torch.Tensor:
    """max(0, D(a, p) − D(a, n) + M) with D = 1 − cosine, for anchors a (B, E), their positives
    p (B, E) and candidates (B, E), candidate i belonging to anchor i's own video: with ``hard``
    None, anchor i's negative is candidate (i + 1) mod B; else the mean of its ``hard`` largest
    terms over the candidates of the other videos."""
    a, p, c = (F.normalize(t.float(), dim=1) for t in (anchor, positive, candidates))
    d_pos = 1 - (a * p).sum(1)                                          # (B,)
    if hard is None:
        return F.relu(d_pos - (1 - (a * c.roll(-1, 0)).sum(1)) + margin).mean()
    terms = F.relu(d_pos[:, None] - (1 - a @ c.T) + margin)            # (B, B): anchor i, candidate j
    terms = terms.masked_fill(torch.eye(len(a), dtype=torch.bool, device=a.device), float("-inf"))
    return terms.topk(min(hard, len(a) - 1), dim=1).values.mean()


@register("tracking", family="correspondence (video)", modality="video",
          paper="Wang & Gupta 2015, Unsupervised Learning of Visual Representations using Videos")
class Tracking(Pretext):
    Config = TrackingConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-4)
    backbone_kinds = ("cnn", "ViT")  # an image backbone on patches

    @classmethod
    def default_views(cls) -> ViewConfig:
        return frame_jitter()

    def __init__(self, backbone: nn.Module, cfg: TrackingConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = mlp([backbone.dim, backbone.dim, cfg.embed_dim])      # k_γ
        self.tracks: torch.Tensor | None = None                          # (N, T, 2), from D_s
        self.mining = False

    def on_train_epoch_start(self, epoch, images, labels):
        if self.tracks is None:  # once a process (a resumed run tracks again: tracking is deterministic)
            self.tracks, moving = track_videos(images)
            self.mining = epoch >= 1
            return {"tracks_moving": moving.float().mean().item()}
        self.mining = epoch >= 1
        return None

    def pseudolabels(self, x, index=None):                                           # P
        cfg = self.cfg
        check_frames(x, cfg.min_gap + 1, self.name)
        if self.tracks is None or index is None:  # outside training: track this batch itself
            tracks = track_videos(x.mul(255).round().to(torch.uint8).cpu())[0]
        else:
            tracks = self.tracks[index.cpu()]
        b, t, device = len(x), x.shape[1], x.device
        side = cfg.patch or x.shape[-1] // 2
        s = torch.randint(0, t - cfg.min_gap, (b,))
        later = s + cfg.min_gap + (torch.rand(b) * (t - cfg.min_gap - s)).long()    # in [s + gap, T - 1]
        rows = torch.arange(b)
        anchor = cut_patches(x[rows, s], tracks[rows, s].to(device), side)
        positive = cut_patches(x[rows, later], tracks[rows, later].to(device), side)
        elsewhere = torch.rand(b, 2) * torch.tensor([x.shape[-1] - 1, x.shape[-2] - 1])
        candidate = cut_patches(x[rows, torch.randint(0, t, (b,))], elsewhere.to(device), side)
        return self.views(torch.cat([anchor, positive, candidate])), None      # (3B, C, p, p)

    def loss(self, inputs, z):                                                       # L
        e = self.head(self.backbone(inputs))
        a, p, c = e.chunk(3)
        with torch.no_grad():  # the tracked patch nearer to its anchor than another video's random patch
            cos = F.normalize(a.float(), dim=1)
            nearer = (cos * F.normalize(p.float(), dim=1)).sum(1) > (cos * F.normalize(c.float(), dim=1).roll(-1, 0)).sum(1)
        return (ranking_loss(a, p, c, self.cfg.margin, self.cfg.hard if self.mining else None),
                {"pretext_acc": nearer.float().mean()})
