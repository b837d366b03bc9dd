"""Jigsaw puzzles. Noroozi & Favaro, 2016, "Unsupervised Learning of Visual Representations by
Solving Jigsaw Puzzles", arXiv:1603.09246.

P: each image cut into a 3 × 3 grid of cells and one tile taken from each cell at a random
position inside it (so neighbouring tiles are a random few pixels apart and their edges cannot
simply be matched), the nine tiles shuffled by a permutation drawn from a fixed set; z = the
index of that permutation in the set, position k of the puzzle showing tile ``set[z][k]``. The
set is chosen greedily for maximal minimum Hamming distance (``ssrl.pretext.permutations``),
generated from ``permutation_seed``, kept as a buffer (so it is in every checkpoint) and
written to the run directory as ``permutations.npy`` by ``save_artifacts``. k_γ: h_θ encodes
every tile with shared weights; with ``tile_hidden`` a shared layer (the paper's fc6) maps each
tile's features on their own; the nine, concatenated in puzzle-position order, go through an
MLP to one logit per permutation of the set. L: cross-entropy.

The paper's values: a 225 px crop of an image resized to 256 px, cells of 75 px, tiles of 64 px
(``tile_fraction`` 64/75), each tile's mean and standard deviation normalised on its own
(against shortcuts through low-level statistics), 1000 permutations (it found larger sets of
more distant permutations to transfer better), a shared AlexNet up to fc6 per tile, then fc7
and fc8 on the nine concatenated features. ``large_image_params`` holds these.

For 28 px images (Fashion-MNIST): cells of 9 px (the leftover pixel moves the whole grid),
tiles of 7 px, so neighbouring tiles are 0-4 px apart, 2 on average, where the paper's are
0-22 px apart; 64 permutations, a set whose members differ in at least 7 of 9 positions
(64 random ones share as many as 5-7 positions), small enough for a few epochs of 28 px data
to show every class often; no per-tile normalisation, because many tiles of centred product
photos are plain background, whose standard deviation is near 0 and whose normalised pixels
would be amplified noise, and the shortcut it blocks (vignetting, colour casts of real lenses)
is absent. The image is cropped to 60-100 % of its area and flipped first (as the paper's
random 225 px crop). Optimizer: SGD, lr 0.01 per 256 images, momentum 0.9, weight decay 5e-4;
rotation prediction's lr of 0.1 solves more puzzles but leaves h_θ's whole-image features
worse. Figures, and the variants measured not to help (the per-tile layer, tiles cut from an
upsampled image or from the image placed at random in a larger canvas): BENCHMARKS.md,
"Issue 4", the jigsaw item.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssrl.errors import SsrlError
from ssrl.files import save_atomic
from ssrl.heads import mlp
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.jittered_grid import cut_patches, jittered_starts
from ssrl.pretext.permutations import max_hamming_permutations
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

GRID = 3
TILES = GRID * GRID


@dataclass
class JigsawConfig:
    num_permutations: int = 64     # classes of the puzzle; the paper: 1000
    permutation_seed: int = 0      # the set is a function of (num_permutations, seed)
    tile_fraction: float = 0.78    # tile side / cell side: 7 px of 9; the paper: 64 of 75 (0.853)
    normalize_tiles: bool = False  # each tile to mean 0, standard deviation 1 (the paper: yes)
    head_hidden: int = 1024        # MLP width; 0 = a linear head; the paper: fc7 of 4096
    tile_hidden: int = 0           # width of a shared layer on each tile's features before they are
                                   # concatenated (the paper's per-tile fc6); 0 = none


def normalize_tiles(tiles: torch.Tensor, min_std: float = 1e-2) -> torch.Tensor:
    """Each tile of (..., C, t, t) shifted to mean 0 and scaled to standard deviation 1; a tile
    flatter than ``min_std`` is divided by ``min_std`` instead, so it is not blown up into noise."""
    mean = tiles.mean((-3, -2, -1), keepdim=True)
    std = tiles.std((-3, -2, -1), keepdim=True, correction=0)
    return (tiles - mean) / std.clamp_min(min_std)


def tile_layer(dim: int, width: int) -> nn.Module:
    """The layer k_γ applies to every tile's features alone (Linear, BN, ReLU to ``width``), as
    the paper's fc6 does before the concatenation; the identity when ``width`` is 0."""
    if not width:
        return nn.Identity()
    return nn.Sequential(nn.Linear(dim, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True))


def shuffle_tiles(tiles: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """(B, 9, ...) tiles in grid order and (B, 9) permutations → the puzzles, position k of
    puzzle b holding tile ``order[b, k]``."""
    return tiles[torch.arange(len(tiles), device=tiles.device)[:, None], order]


@register("jigsaw", family="transformation prediction", modality="image",
          paper="Noroozi & Favaro 2016, Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles")
class Jigsaw(Pretext):
    patch_inputs = True
    Config = JigsawConfig
    optimizer = OptimizerDefaults(name="sgd", lr=0.01, weight_decay=5e-4, momentum=0.9)
    large_image_params = {"num_permutations": 1000, "tile_fraction": 64 / 75, "normalize_tiles": True}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.6, 1.0))

    def __init__(self, backbone: nn.Module, cfg: JigsawConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        _check(cfg)
        perms = max_hamming_permutations(cfg.num_permutations, TILES, cfg.permutation_seed)
        self.register_buffer("permutations", torch.from_numpy(perms))   # (n, 9), in checkpoints
        hidden = [cfg.head_hidden] if cfg.head_hidden else []
        tile_dim = cfg.tile_hidden or backbone.dim
        self.tile_head = tile_layer(backbone.dim, cfg.tile_hidden)            # k_γ: per tile, then
        self.head = mlp([TILES * tile_dim, *hidden, cfg.num_permutations])   # on the nine together

    def layout(self, side: int) -> tuple[int, int]:
        """(cell, tile) sides in px for images of ``side`` px."""
        cell = side // GRID
        if cell < 1:
            raise SsrlError(f"jigsaw: images of {side} px are too small for a {GRID}×{GRID} grid")
        return cell, min(cell, max(1, round(cell * self.cfg.tile_fraction)))

    def pseudolabels(self, x, index=None):          # P
        x = self.views(x)
        b, side = len(x), min(x.shape[-2:])
        cell, tile = self.layout(side)
        rows, cols = jittered_starts(b, side, GRID, tile, cell, cell - tile, x.device)
        tiles = cut_patches(x, rows, cols, tile)                          # (B, 9, C, t, t), grid order
        if self.cfg.normalize_tiles:
            tiles = normalize_tiles(tiles)
        z = torch.randint(len(self.permutations), (b,), device=x.device)
        return shuffle_tiles(tiles, self.permutations[z]).flatten(0, 1), z  # (B·9, C, t, t), (B,)

    def loss(self, inputs, z):                          # L
        tiles = self.tile_head(self.backbone(inputs))                     # (B·9, d)
        logits = self.head(tiles.reshape(-1, TILES * tiles.shape[1]))
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``permutations.npy``: the (n, 9) int64 set; row z is the order of class z's puzzles."""
        save_atomic(Path(run_dir) / "permutations.npy", lambda f: np.save(f, self.permutations.cpu().numpy()))


def _check(cfg: JigsawConfig) -> None:
    if not 2 <= cfg.num_permutations <= math.factorial(TILES):
        raise SsrlError(f"jigsaw: num_permutations must be in 2..{math.factorial(TILES)}, got {cfg.num_permutations}")
    if not 0 < cfg.tile_fraction <= 1:
        raise SsrlError(f"jigsaw: tile_fraction is the tile's share of its cell's side, in (0, 1], got {cfg.tile_fraction}")
    if cfg.head_hidden < 0 or cfg.tile_hidden < 0:
        raise SsrlError(f"jigsaw: head_hidden and tile_hidden must be ≥ 0, got {cfg.head_hidden} and {cfg.tile_hidden}")
