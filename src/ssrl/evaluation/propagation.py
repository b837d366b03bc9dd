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
come from h_θ's spatial map (``backbone_maps``: the coarsest map at stride ≤ 8 that the backbone
declares through ``ssrl.backbones.maps``) or, for the baseline that needs no learning, from the
pixels (``pixel_features``: each cell's Lab colour values).
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.maps import features_and_maps
from ssrl.data.source import to_unit

MAX_STRIDE = 8  # the papers read features at stride 8 (CRW: a ResNet-18 with res4's stride removed)


@dataclass(frozen=True)
class PropagationConfig:
    context: int = 20           # propagated frames beside the first (Jabri et al.); short clips use all before t
    radius: float = 0.2         # of the frame's shorter side: the papers' 12 cells at stride 8 on 480-px frames
    topk: int = 10              # neighbours kept per target position (Jabri et al.; Wang et al.)
    temperature: float = 0.07   # softmax temperature of the affinities (Jabri et al.)


def propagate(features: torch.Tensor, first: torch.Tensor, *, context: int = 20, radius: float = 12.0,
              topk: int = 10, temperature: float = 0.07) -> torch.Tensor:
    """Label distributions (T, K, h, w) of every frame of features (T, C, h, w), given the first
    frame's (K, h, w). ``radius`` is in cells of the feature map (Euclidean). Frame 0 keeps ``first``."""
    t_all, _, h, w = features.shape
    feats = F.normalize(features.flatten(2).float(), dim=1)                      # (T, C, N)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1).float()                   # (N, 2)
    near = torch.cdist(pos, pos) <= radius                                       # (N, N): target, context
    labels = [first.flatten(1).float()]                                          # each (K, N)
    for t in range(1, t_all):
        ctx = [0] + list(range(max(1, t - context), t))
        affinity = torch.einsum("cn,mcq->nmq", feats[t], feats[ctx])             # (N, M, N)
        affinity = affinity.masked_fill(~near[:, None, :], float("-inf")).flatten(1)
        top, index = affinity.topk(min(topk, affinity.shape[1]), dim=1)          # (N, k)
        weights = torch.softmax(top / temperature, dim=1)                        # -inf (out of radius): 0
        ctx_labels = torch.stack([labels[i] for i in ctx], 1).flatten(1)         # (K, M·N)
        labels.append((ctx_labels[:, index] * weights).sum(-1))                  # (K, N)
    return torch.stack(labels).unflatten(2, (h, w))


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


def choose_map(side: int, map_sides: list[int]) -> int:
    """The index of the coarsest map (finest first) of stride ≤ MAX_STRIDE for an input of ``side``
    px; the finest when every map is coarser."""
    fine = [i for i, s in enumerate(map_sides) if s * MAX_STRIDE >= side]
    return fine[-1] if fine else 0


@torch.inference_mode()
def backbone_maps(backbone: nn.Module, frames: torch.Tensor, batch: int = 16,
                  device: torch.device | None = None) -> tuple[torch.Tensor, int, str]:
    """(features (T, C, h, w) float32 on the CPU, the map's stride in px, which map it is) of uint8
    frames (T, C, H, W) through h_θ in eval mode: the map ``choose_map`` picks."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone = backbone.eval().to(device)
    chosen, out = None, []
    for chunk in frames.split(batch):
        _, maps = features_and_maps(backbone, to_unit(chunk.to(device)))
        if chosen is None:
            chosen = choose_map(frames.shape[-2], [m.shape[-2] for m in maps])
            which, side = maps[chosen], frames.shape[-2]
            stride = max(1, round(side / which.shape[-2]))
            what = (f"h_θ's map {chosen + 1} of {len(maps)} (finest first): stride {stride}, "
                    f"{which.shape[1]} channels")
        out.append(maps[chosen].float().cpu())
    return torch.cat(out), stride, what
