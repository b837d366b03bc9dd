"""Relative patch position (context prediction). Doersch, Gupta & Efros, 2015, "Unsupervised
Visual Representation Learning by Context Prediction", arXiv:1505.05192.

P: in each image a 3 × 3 grid of square patches with gaps between them; the pair (centre patch,
neighbour k) has the pseudolabel z = k in 0..7, the neighbours numbered in reading order
(top-left, top, top-right, left, right, bottom-left, bottom, bottom-right). The paper's
measures against trivial shortcuts, all here: a gap between patches (no continuing of lines
and textures across a border), a random jitter of every patch (no exact alignment), random
down-then-up sampling of some patches (robustness to pixelation), and, for colour images,
dropping colour channels (against chromatic aberration, which tells where in the frame a
patch was). k_γ: h_θ encodes both patches with shared weights; their features, centre
first, are concatenated and an MLP gives 8 logits. L: cross-entropy.

The paper's values, on images resized to 150k-450k pixels: patches of 96 px, a gap of 48 px,
a jitter of up to 7 px, some patches downsampled to as little as 100 pixels (about 0.1 of the
side) and upsampled back; against chromatic aberration, colour dropping: two of the three
channels replaced by Gaussian noise of 1/100 the kept channel's standard deviation; a shared
AlexNet up to fc6 per patch, then fc7 and fc8 over the pair. ``large_image_params`` holds these; a
layout that does not fit the image (3 patches + 2 gaps + 2 jitters > the side; 398 px for the
paper's) is scaled down in proportion, so 224 px images get patches of 54 px, gaps of 27 px and
a jitter of 3 px.

For 28 px images (Fashion-MNIST) the defaults upsample the image 2× (``zoom``, below) and cut
patches of 14 px, gaps of 4 px and a jitter of 2 px from the 56 px result: the grid spans 54 of
the 56 px, neighbours are 0-8 px apart (4 on average) and never overlap (``gap`` ≥ 2 ``jitter``
is required). The paper's proportions (a gap of half a patch, a jitter of 7 % of it) would
leave no jitter at this size; we keep some at the cost of a narrower gap (a wider one hides
more of the borders but leaves less of the object in each patch). Without the zoom (7 px
patches, 2 px gaps, 1 px jitter on the 28 px image) the last two 3 × 3 convolutions of
``convnet-small`` see a 1 × 1 map, only their centre taps learn, and on B1 the kNN floor was
only tied, where the zoom beats it at a higher cost per step. A fifth of the patches are
downsampled to 50-100 % of their side. Channels are dropped only from 3-channel images, 1 or 2
of them per patch at random, never all three. The dropped channels become Gaussian noise with the
paper's 1/100 of the kept channels' standard deviation, centred on the kept channels' mean:
zeros instead would make every colour patch very dark or strongly tinted, inputs unlike any
image h_θ sees later, while the noise, like zeros, tells nothing about the dropped channel.

``zoom`` upsamples each image (bilinear) before the grid is cut, as the paper cut its patches
from images enlarged to 150k-450k pixels; ``patch``, ``gap`` and ``jitter`` are then pixels of
the enlarged image.

The paper draws one random neighbour per sample. Here every image gives all 8 pairs at each
step, as rotation prediction feeds all four rotations: h_θ then encodes 9 patches for 8
labelled pairs (1.1 encodings a pair, against 2 for one random pair) and every batch has
balanced labels. Optimizer: SGD as in the paper, at rotation prediction's small-image values
(lr 0.1 per 256 images, momentum 0.9, weight decay 5e-4), not tuned for this method.
Figures: BENCHMARKS.md, "Issue 4", the relative position item.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.errors import SsrlError
from ssrl.heads import mlp
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.jittered_grid import cut_patches, jittered_starts, zoomed
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

GRID = 3
CENTRE = 4                                   # index i · 3 + j of the centre patch
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)        # the grid index of neighbour z = 0..7
OFFSETS = tuple((n // GRID - 1, n % GRID - 1) for n in NEIGHBOURS)  # (rows, cols) from the centre, in cells


@dataclass
class RelativePositionConfig:
    patch: int = 14              # px (of the zoomed image); the paper: 96
    gap: int = 4                 # px between neighbouring patches before the jitter; the paper: 48
    jitter: int = 2              # px, the most a patch moves along each axis; the paper: 7
    downsample: float = 0.2      # probability that a patch is downsampled, then upsampled back
    downsample_min: float = 0.5  # the smallest side downsampled to, a fraction of the patch; the paper: 0.1
    channel_drop: float = 1.0    # probability that a patch of a 3-channel image loses 1 or 2 channels
    head_hidden: int = 512       # MLP width; 0 = a linear head; the paper: fc7 of 4096
    zoom: float = 2.0            # images upsampled by this factor before the grid is cut; patch, gap, jitter in its px


def fit_layout(side: int, patch: int, gap: int, jitter: int) -> tuple[int, int, int]:
    """(patch, gap, jitter) for images of ``side`` px: as given if the grid, 3 patches + 2 gaps +
    2 jitters, fits, else all three scaled down in proportion (rounded down, so it fits)."""
    span = 3 * patch + 2 * gap + 2 * jitter
    if span <= side:
        return patch, gap, jitter
    f = side / span
    return max(1, math.floor(patch * f)), math.floor(gap * f), math.floor(jitter * f)


def downsample_some(patches: torch.Tensor, p: float, min_scale: float) -> torch.Tensor:
    """With probability ``p`` per patch of (N, C, s, s), downsample to a side drawn uniformly in
    ceil(min_scale · s)..s − 1 (area averaging), then upsample back to s (bilinear). The side is
    drawn once per call, so the whole batch is two resizes instead of one per distinct size."""
    n, _, size, _ = patches.shape
    low = max(1, math.ceil(min_scale * size))
    if p <= 0 or low >= size:
        return patches
    small = int(torch.randint(low, size, ()))
    blurred = F.interpolate(F.interpolate(patches, size=small, mode="area"), size=size, mode="bilinear",
                            align_corners=False)
    on = torch.rand(n, device=patches.device) < p
    return torch.where(on[:, None, None, None], blurred, patches)


def drop_channels(patches: torch.Tensor, p: float) -> torch.Tensor:
    """With probability ``p`` per patch of (N, 3, s, s), replace 1 or 2 random channels (never
    all 3) by Gaussian noise around the kept channels' mean with 1/100 of their standard
    deviation. Other channel counts come back unchanged: there is no colour to drop."""
    n, c = patches.shape[:2]
    if c != 3 or p <= 0:
        return patches
    on = torch.rand(n, device=patches.device) < p
    count = torch.randint(1, 3, (n,), device=patches.device) * on               # channels to drop
    rank = torch.rand(n, c, device=patches.device).argsort(1).argsort(1)       # a random order of the channels
    drop = (rank < count[:, None])[:, :, None, None]                           # (N, 3, 1, 1)
    kept = (~drop).to(patches.dtype).expand_as(patches)
    pixels = kept.sum((1, 2, 3), keepdim=True)
    mean = (patches * kept).sum((1, 2, 3), keepdim=True) / pixels
    std = (((patches - mean) ** 2 * kept).sum((1, 2, 3), keepdim=True) / pixels).sqrt()
    noise = mean + std / 100 * torch.randn_like(patches)
    return torch.where(drop, noise, patches)


def pair_features(feats: torch.Tensor) -> torch.Tensor:
    """(B, 9, D) patch features → (B · 8, 2D): [centre, neighbour z] for z = 0..7 of each image."""
    b, _, dim = feats.shape
    centre = feats[:, CENTRE:CENTRE + 1].expand(b, len(NEIGHBOURS), dim)
    return torch.cat([centre, feats[:, list(NEIGHBOURS)]], dim=2).reshape(-1, 2 * dim)


@register("relative_position", family="transformation prediction", modality="image",
          paper="Doersch et al. 2015, Unsupervised Visual Representation Learning by Context Prediction")
class RelativePosition(Pretext):
    patch_inputs = True
    Config = RelativePositionConfig
    optimizer = OptimizerDefaults(name="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9)
    large_image_params = {"patch": 96, "gap": 48, "jitter": 7, "downsample_min": 0.1, "zoom": 1.0}

    @classmethod
    def default_views(cls) -> ViewConfig:
        # Crops and flips of the whole image before the grid is cut: more layouts, same labels.
        return ViewConfig.geometric((0.6, 1.0))

    def __init__(self, backbone: nn.Module, cfg: RelativePositionConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        _check(cfg)
        hidden = [cfg.head_hidden] if cfg.head_hidden else []
        self.head = mlp([2 * backbone.dim, *hidden, len(NEIGHBOURS)])   # k_γ

    def layout(self, side: int) -> tuple[int, int, int]:
        """The (patch, gap, jitter) in px used for images of ``side`` px."""
        return fit_layout(side, self.cfg.patch, self.cfg.gap, self.cfg.jitter)

    def pseudolabels(self, x, index=None):          # P
        x = self.views(x)
        x = zoomed(x, self.cfg.zoom)
        b, side = len(x), min(x.shape[-2:])
        patch, gap, jitter = self.layout(side)
        rows, cols = jittered_starts(b, side, GRID, patch, patch + gap, 2 * jitter, x.device)
        patches = cut_patches(x, rows, cols, patch).flatten(0, 1)      # (B·9, C, p, p), image by image
        patches = downsample_some(patches, self.cfg.downsample, self.cfg.downsample_min)
        patches = drop_channels(patches, self.cfg.channel_drop)
        return patches, torch.arange(len(NEIGHBOURS), device=x.device).repeat(b)  # z of pair (b, k): k

    def loss(self, inputs, z):                          # L
        feats = self.backbone(inputs).reshape(-1, GRID * GRID, self.backbone.dim)
        logits = self.head(pair_features(feats))
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}


def _check(cfg: RelativePositionConfig) -> None:
    name = "relative_position"
    if cfg.patch < 1 or cfg.gap < 0 or cfg.jitter < 0:
        raise SsrlError(f"{name}: patch must be ≥ 1 px, gap and jitter ≥ 0, got {cfg.patch}, {cfg.gap}, {cfg.jitter}")
    if cfg.gap < 2 * cfg.jitter:
        raise SsrlError(f"{name}: gap ({cfg.gap} px) must be at least twice the jitter ({cfg.jitter} px), "
                        "or jittered neighbours could overlap")
    for field in ("downsample", "channel_drop"):
        if not 0 <= getattr(cfg, field) <= 1:
            raise SsrlError(f"{name}: {field} is a probability in [0, 1], got {getattr(cfg, field)}")
    if cfg.zoom < 1:
        raise SsrlError(f"{name}: zoom upsamples the image before the grid is cut; it must be ≥ 1, got {cfg.zoom}")
    if not 0 < cfg.downsample_min <= 1:
        raise SsrlError(f"{name}: downsample_min is a fraction of the patch side in (0, 1], got {cfg.downsample_min}")
