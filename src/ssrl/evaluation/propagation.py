"""Label propagation: a video's first-frame segmentation carried through the video by feature
affinities, the evaluation of correspondence features (Vondrick et al. 2018, "Tracking emerges by
colorizing videos", arXiv:1806.09594; Wang et al. 2019, "Learning correspondence from the
cycle-consistency of time", arXiv:1903.07593; Jabri et al. 2020, "Space-time correspondence as a
contrastive random walk", arXiv:2006.14613, whose protocol this follows).

For each frame t after the first, each position of its L2-normalised feature map attends to the
positions of the context frames: the first frame (its true labels) and the last ``context``
propagated frames (their propagated label distributions). Only context positions within
``radius`` of the target position count; of those, the ``topk`` most similar (cosine) are kept and
weighted by a softmax of similarity / ``temperature``; the target's label distribution is the
weighted sum of theirs. Distributions are upsampled (bilinear) to the masks' size, and the argmax
is the predicted object.

``propagate`` works on any feature maps, so that it can be tested with hand-made ones. Features
come from h_θ's spatial map (``backbone_maps``: of the maps the backbone declares through
``ssrl.backbones.maps``, the one nearest the papers' resolution, 60 cells across) or, for the
baseline that needs no learning, from the pixels (``pixel_features``: each cell's Lab colour values).
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.maps import features_and_maps
from ssrl.data.source import to_unit

PAPERS_CELLS = 60  # cells across a frame's shorter side in the papers: 480-px DAVIS frames at stride 8
AFFINITY_ELEMENTS = 2 ** 24  # affinities held at once (64 MiB): DAVIS at 480 px has 6,420 positions a frame
TILE = 16  # target positions a side whose affinities are computed together (``propagate``; BENCHMARKS.md)


@dataclass(frozen=True)
class PropagationConfig:
    context: int = 20           # propagated frames beside the first (Jabri et al.); short clips use all before t
    radius: float = 0.2         # of the frame's shorter side: the papers' 12 cells at stride 8 on 480-px frames
    topk: int = 10              # neighbours kept per target position (Jabri et al.; Wang et al.)
    temperature: float = 0.07   # softmax temperature of the affinities (Jabri et al.)


def propagate(features: torch.Tensor, first: torch.Tensor, *, context: int = 20, radius: float = 12.0,
              topk: int = 10, temperature: float = 0.07) -> torch.Tensor:
    """Label distributions (T, K, h, w) of every frame of features (T, C, h, w), given the first
    frame's (K, h, w). ``radius`` is in cells of the feature map (Euclidean). Frame 0 keeps ``first``.
    Computed on the features' device, at most ``AFFINITY_ELEMENTS`` affinities at once; returned on the CPU.

    Target positions are taken a ``TILE`` × ``TILE`` square at a time, and their affinities computed
    only to the context positions of that square grown by the radius, which holds every position
    in their reach: the same result as affinities to every position, for a fraction of the work when
    the radius is small beside the map."""
    t_all, _, h, w = features.shape
    feats = F.normalize(features.flatten(2).float(), dim=1)                      # (T, C, N)
    tiles = _tiles(h, w, radius, feats.device)
    labels = [first.flatten(1).float().to(feats.device)]                         # each (K, N)
    for t in range(1, t_all):
        ctx = [0] + list(range(max(1, t - context), t))
        keys, ctx_labels = feats[ctx], torch.stack([labels[i] for i in ctx], 1)  # (M, C, N), (K, M, N)
        out = torch.empty_like(labels[0])
        for targets, window, reach in tiles:
            near_keys = F.pad(keys[:, :, window], (0, 1))                        # (M, C, W + 1): index W is
            near_labels = F.pad(ctx_labels[:, :, window], (0, 1))                # (K, M, W + 1)  no position
            rows = max(1, AFFINITY_ELEMENTS // (len(ctx) * (len(window) + 1)))   # target positions at a time
            for part in torch.arange(len(targets), device=feats.device).split(rows):
                out[:, targets[part]] = _attend(feats[t][:, targets[part]], near_keys, reach[part], near_labels,
                                                topk, temperature)
        labels.append(out)
    return torch.stack(labels).unflatten(2, (h, w)).cpu()


def _tiles(h: int, w: int, radius: float, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each ``TILE`` × ``TILE`` square of an h × w map: (its positions (n,), the positions of the
    square grown by the radius (W,), and each of its positions' reach (n, P) as indices into those
    W, W where the frame's edge cuts the disk off)."""
    reach, r = _within(h, w, radius), int(radius)
    out = []
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            rows, cols = torch.arange(y, min(h, y + TILE)), torch.arange(x, min(w, x + TILE))
            targets = (rows[:, None] * w + cols).flatten()
            near_rows = torch.arange(max(0, y - r), min(h, y + TILE + r))
            near_cols = torch.arange(max(0, x - r), min(w, x + TILE + r))
            window = (near_rows[:, None] * w + near_cols).flatten()
            local = torch.full((h * w + 1,), len(window), dtype=torch.long)      # index h·w (none) -> W (none)
            local[window] = torch.arange(len(window))
            out.append((targets.to(device), window.to(device), local[reach[targets]].to(device)))
    return out


def _within(h: int, w: int, radius: float) -> torch.Tensor:
    """(N, P) indices of the positions within ``radius`` of each of the h·w positions, padded with
    N (the index of no position) where the frame's edge cuts the disk off."""
    r = int(radius)
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= radius ** 2]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ys, xs = ys.flatten()[:, None], xs.flatten()[:, None]
    dy, dx = (torch.tensor([o[i] for o in offsets])[None] for i in (0, 1))
    y, x = ys + dy, xs + dx
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    return torch.where(inside, y * w + x, h * w)


def _attend(target: torch.Tensor, keys: torch.Tensor, reach: torch.Tensor, ctx_labels: torch.Tensor,
            topk: int, temperature: float) -> torch.Tensor:
    """Label distributions (K, n) of n target positions (C, n) from the context frames' keys
    (M, C, N + 1) and labels (K, M, N + 1); ``reach`` (n, P): the context positions within the
    radius (N: none, whose affinity is -inf)."""
    m, n = keys.shape[0], target.shape[1]
    affinity = torch.einsum("cn,mcq->nmq", target, keys)                         # (n, M, N + 1)
    affinity[..., -1] = float("-inf")
    near = affinity.gather(2, reach[:, None, :].expand(n, m, -1)).flatten(1)     # (n, M·P)
    top, index = near.topk(min(topk, near.shape[1]), dim=1)                      # (n, k)
    weights = torch.softmax(top / temperature, dim=1)                            # -inf (out of reach): 0
    where = reach[:, None, :].expand(n, m, -1).flatten(1).gather(1, index)       # (n, k): context position
    frame = index // reach.shape[1]                                              # (n, k): context frame
    return (ctx_labels[:, frame, where] * weights).sum(-1)                       # (K, n)


def first_labels(mask: torch.Tensor, ids: list[int], size: tuple[int, int]) -> torch.Tensor:
    """The first frame's label distributions (K, h, w) at the feature map's ``size``: one channel
    per id of ``ids`` (background first), each cell the fraction of its pixels of that id."""
    onehot = torch.stack([(mask == i).float() for i in ids])                     # (K, H, W)
    return F.interpolate(onehot[None], size=size, mode="area")[0]


def to_ids(labels: torch.Tensor, size: tuple[int, int], ids: list[int]) -> np.ndarray:
    """(T, H, W) uint8 ids: label distributions (T, K, h, w) upsampled (bilinear) to ``size``, argmax."""
    out = []
    for chunk in labels.split(8):  # full-size distributions of a few frames at a time
        up = F.interpolate(chunk, size=size, mode="bilinear", align_corners=False)
        out.append(torch.tensor(ids, dtype=torch.uint8)[up.argmax(1)])
    return torch.cat(out).numpy()


def propagate_masks(features: torch.Tensor, first_mask: torch.Tensor, ids: list[int], radius: float,
                    cfg: PropagationConfig = PropagationConfig()) -> np.ndarray:
    """Predicted ids (T, H, W) at the first mask's size, from features (T, C, h, w) and the first
    frame's mask (H, W) of ``ids`` (background 0 first); ``radius`` in feature cells."""
    first = first_labels(first_mask, ids, features.shape[-2:])
    labels = propagate(features, first, context=cfg.context, radius=radius, topk=cfg.topk,
                       temperature=cfg.temperature)
    return to_ids(labels, tuple(first_mask.shape), ids)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """CIE Lab (D65) of sRGB x (..., 3, H, W) in [0, 1]: L in [0, 100], a and b about [-110, 110]."""
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = torch.einsum("ij,...jhw->...ihw", to_xyz, linear) / torch.tensor([0.9505, 1.0, 1.089])[:, None, None]
    delta = 6 / 29
    f = torch.where(xyz > delta ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * delta ** 2) + 4 / 29)
    return torch.stack([116 * f[..., 1, :, :] - 16, 500 * (f[..., 0, :, :] - f[..., 1, :, :]),
                        200 * (f[..., 1, :, :] - f[..., 2, :, :])], -3)


def pixel_features(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """The pixel baseline's features (T, C·stride², H/stride, W/stride) of uint8 frames (T, C, H, W):
    each cell's Lab values (L alone for gray frames), L scaled to a and b's range, minus the
    video's mean, so that the cosine of two cells compares their colours' departures from it."""
    x = to_unit(frames)
    lab = rgb_to_lab(x) * torch.tensor([2.0, 1.0, 1.0])[:, None, None] if x.shape[1] == 3 else x * 200
    h, w = lab.shape[-2] // stride, lab.shape[-1] // stride
    cells = F.unfold(lab, stride, stride=stride).unflatten(2, (h, w))            # (T, C·s², h, w)
    return cells - cells.mean(dim=(0, 2, 3), keepdim=True)


def as_channels(frames: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 frames (T, C, H, W) with ``channels`` channels: RGB to luma (ITU-R 601) for a gray
    backbone, gray repeated for a colour one."""
    if frames.shape[1] == channels:
        return frames
    if channels == 1:
        luma = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
        return (frames.float() * luma).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return frames.expand(-1, channels, -1, -1).contiguous()


def choose_map(map_sides: list[int]) -> int:
    """The index of the map (finest first) whose shorter side, in cells, is nearest
    ``PAPERS_CELLS``: the papers' resolution relative to the frame (a ResNet at stride 8 on 480-px
    frames), whatever the frames' size. (A fixed stride would leave 16 cells across a 64-px frame
    at stride 4, too coarse for any features: BENCHMARKS.md, B5.) Ties go to the finer map."""
    return min(range(len(map_sides)), key=lambda i: (abs(map_sides[i] - PAPERS_CELLS), -map_sides[i]))


@torch.inference_mode()
def backbone_maps(backbone: nn.Module, frames: torch.Tensor, batch: int = 16,
                  device: torch.device | None = None, index: int | None = None) -> tuple[torch.Tensor, int, str]:
    """(features (T, C, h, w) float32 on the CPU, the map's stride in px, which map it is) of uint8
    frames (T, C, H, W) through h_θ in eval mode: the map ``choose_map`` picks, or map ``index``
    (finest first) if given."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone = backbone.eval().to(device)
    chosen, out = None, []
    for chunk in frames.split(batch):
        _, maps = features_and_maps(backbone, to_unit(chunk.to(device)))
        if chosen is None:
            chosen = choose_map([min(m.shape[-2:]) for m in maps]) if index is None else index
            which, side = maps[chosen], frames.shape[-2]
            stride = max(1, round(side / which.shape[-2]))
            what = (f"h_θ's map {chosen + 1} of {len(maps)} (finest first): stride {stride}, "
                    f"{which.shape[1]} channels")
        out.append(maps[chosen].float().cpu())
    return torch.cat(out), stride, what
