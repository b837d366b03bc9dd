"""Contrastive Predictive Coding for images. van den Oord, Li & Vinyals, 2018,
arXiv:1807.03748 (§3.3), with the v2 refinements of Hénaff et al., 2020, arXiv:1905.09272.

P: every image cut into an overlapping ``grid`` × ``grid`` of patches (the paper: 7 × 7 patches
of 64 px at stride 32 of a 256 px image, half-overlapping), each patch augmented on its own
(v2), colour channels dropped where there are colours (v2: all but one of three). h_θ encodes
every patch to z_{i,j}. k_γ: the autoregressive context network g_ar, a masked convolution over
the grid whose output c_{i,j} depends on the rows 0..i only, and one linear map W_k per offset
(and per direction). L: InfoNCE (``ssrl.losses.info_nce``): W_k c_{i,j} must pick z_{i+k,j},
the patch k rows below, among every patch of the batch (the same image's and the other
images'), for k = 1..K. v2 also predicts from the other directions (bottom-up, left-right,
right-left: ``directions``), each with its own g_ar and W_k; layer norm replaces batch norm
in g_ar, and in h_θ with the backbone ``convnet-small-ln``, so that batch statistics cannot
leak a patch to its neighbours.

For 28 px images: a 4 × 4 grid of 12 px patches at stride 5-6 (the paper's half-overlap would
leave 11 px patches), K = 2 rows (the paper: up to 5 of 7), since a larger grid with more rows
costs much more per step on a CPU, most of it in the InfoNCE over every patch of the batch;
patches cropped to 60-100% of their area, flipped and colour-jittered; cosine scores at τ = 0.1
between h_θ's 128-d z and W_k c, where the paper scores plain dot products, which learned
slower on Fashion-MNIST; AdamW lr 1e-3 per 256 images as SimCLR (the paper: Adam 2e-4 on
ImageNet). Figures: BENCHMARKS.md, "B1", the CPC item.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.patches import grid_patches
from ssrl.losses import info_nce
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig, Views


@dataclass
class CPCConfig:
    grid: int = 4                 # patches per side; the paper: 7
    patch: int = 0                # px; 0 = 3/7 of the image side (12 px of 28)
    k_max: int = 2                # K, the farthest row predicted; the paper: up to 5
    directions: int = 1           # 1: top-down (v1); 2: + bottom-up; 4: + left-right, right-left (v2)
    context_dim: int = 128        # width of g_ar
    context_layers: int = 2       # masked residual blocks of g_ar
    channel_drop: bool = True     # v2: keep one of three colour channels per patch (colour data only)
    normalize: bool = True        # cosine scores of L2-normalized z and W_k c; the paper: plain dot products
    temperature: float = 0.1      # τ of the cosine scores (1 for the paper's dot products)


def cpc_pairs(grid: int, k_max: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (context, target, k) of top-down CPC on a ``grid`` × ``grid`` grid, positions
    numbered i·grid + j: the context (i, j) predicts the target (i + k, j), k = 1..K, i + k < grid."""
    context, target, offset = [], [], []
    for k in range(1, k_max + 1):
        for i in range(grid - k):
            for j in range(grid):
                context.append(i * grid + j)
                target.append((i + k) * grid + j)
                offset.append(k)
    return torch.tensor(context), torch.tensor(target), torch.tensor(offset)


class RowCausalConv(nn.Module):
    """A residual block whose output at row i sees the input rows 0..i only: layer norm over
    channels (per position, so nothing mixes rows), ReLU, then a convolution ``grid`` rows tall
    and 3 columns wide padded at the top alone."""

    def __init__(self, dim: int, grid: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, (grid, 3))
        self.grid = grid

    def forward(self, c: torch.Tensor) -> torch.Tensor:      # (B, D, g, g)
        h = F.relu(self.norm(c.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return c + self.conv(F.pad(h, (1, 1, self.grid - 1, 0)))


class ContextNetwork(nn.Module):
    """g_ar: z (B, g, g, D) → c (B, g, g, D_c), c_{i,j} a function of z's rows 0..i."""

    def __init__(self, dim: int, context_dim: int, grid: int, layers: int):
        super().__init__()
        self.inp = nn.Linear(dim, context_dim)
        self.blocks = nn.Sequential(*[RowCausalConv(context_dim, grid) for _ in range(layers)])
        self.out = nn.LayerNorm(context_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.blocks(self.inp(z).permute(0, 3, 1, 2))
        return self.out(c.permute(0, 2, 3, 1))


def drop_channels(x: torch.Tensor) -> torch.Tensor:
    """Per sample of x (N, C, H, W), C > 1: keep one random channel, zero the others."""
    keep = torch.randint(x.shape[1], (len(x),), device=x.device)
    mask = F.one_hot(keep, x.shape[1]).to(x.dtype)[:, :, None, None]
    return x * mask


@register("cpc", family="contrastive instance discrimination", modality="image",
          paper="van den Oord et al. 2018, Representation Learning with Contrastive Predictive Coding; Hénaff et al. 2020 (v2)")
class CPC(Pretext):
    Config = CPCConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"grid": 7, "k_max": 5, "directions": 4}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig(crop_scale=(0.6, 1.0), grayscale=0.0)  # per patch

    def __init__(self, backbone: nn.Module, cfg: CPCConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        if cfg.directions not in (1, 2, 4):
            raise ValueError(f"cpc: directions must be 1, 2 or 4, got {cfg.directions}")
        if not 1 <= cfg.k_max < cfg.grid:
            raise ValueError(f"cpc: k_max must be in 1..grid-1 = {cfg.grid - 1}, got {cfg.k_max}")
        self.head = nn.ModuleList([                                      # k_γ: per direction
            nn.ModuleDict({"context": ContextNetwork(backbone.dim, cfg.context_dim, cfg.grid, cfg.context_layers),
                           "predict": nn.Linear(cfg.context_dim, cfg.k_max * backbone.dim, bias=False)})
            for _ in range(cfg.directions)])
        for name, t in zip(("context", "target", "k"), cpc_pairs(cfg.grid, cfg.k_max)):
            self.register_buffer(name, t, persistent=False)

    def patch_size(self, x: torch.Tensor) -> int:
        return self.cfg.patch or max(1, round(min(x.shape[-2:]) * 3 / 7))

    def pseudolabels(self, x, index=None):          # P
        g, p = self.cfg.grid, self.patch_size(x)
        tiles = grid_patches(x, g, p).reshape(-1, x.shape[1], p, p)       # (B·g·g, C, p, p)
        tiles = Views(replace(self.views.cfg, size=p))(tiles)
        if self.cfg.channel_drop and x.shape[1] == 3:
            tiles = drop_channels(tiles)
        return tiles, torch.arange(len(x), device=x.device).repeat_interleave(g * g)  # z: each patch's image

    def loss(self, inputs, z):                          # L
        g = self.cfg.grid
        feats = self.backbone(inputs).reshape(-1, g, g, self.backbone.dim)   # (B, g, g, D)
        losses, accs = [], []
        for d, head in enumerate(self.head):
            grid = feats if d == 0 else torch.rot90(feats, k=(2, 1, 3)[d - 1], dims=(1, 2))  # every direction as top-down
            loss, acc = self._predict(head, grid)
            losses.append(loss)
            accs.append(acc)
        return torch.stack(losses).mean(), {"pretext_acc": torch.stack(accs).mean()}

    def _predict(self, head: nn.ModuleDict, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE of W_k c_{i,j} against z_{i+k,j} among all B·g·g patches of ``grid``."""
        b, g, _, dim = grid.shape
        c = head["context"](grid).reshape(b, g * g, -1)                   # (B, g·g, D_c)
        preds = head["predict"](c).reshape(b, g * g, self.cfg.k_max, dim)  # W_k c_{i,j} for every k
        query = preds[:, self.context, self.k - 1]                        # (B, pairs, D)
        keys = grid.reshape(b * g * g, dim)                               # every patch of the batch
        positive = (torch.arange(b, device=grid.device)[:, None] * g * g + self.target).reshape(-1)
        query = query.reshape(-1, dim)
        if self.cfg.normalize:
            query, keys = F.normalize(query, dim=1), F.normalize(keys, dim=1)
        loss = info_nce(query, keys, positive, self.cfg.temperature)
        with torch.no_grad():
            acc = ((query @ keys.T).argmax(1) == positive).float().mean()
        return loss, acc
