"""Rotation prediction (RotNet). Gidaris, Singh & Komodakis, 2018, arXiv:1803.07728.

P: each image of the batch in all four rotations (0°, 90°, 180°, 270°), z = which one; the
paper found feeding all four rotations of an image in the same batch better than one random
rotation. k_γ: a classifier on h_θ. L: cross-entropy. Optimizer: the paper's SGD,
momentum 0.9, weight decay 5e-4, lr 0.1 at batch 128 (0.05 per 64 images × 4 rotations).

Departures, both measured on Fashion-MNIST: a linear head on the pooled features left them
worse than random init for kNN, since the last layers specialise to the pretext (the paper,
and Kolesnikov et al. 2019, arXiv:1901.09005, find rotation's best features in middle layers);
an MLP head (one hidden layer, BN + ReLU) absorbs that and beat random init (figures:
BENCHMARKS.md, "B1", "Rotation's head"). The inputs are mild crops (area 0.5–1) and flips, as
the paper's CIFAR runs used standard augmentation, which keeps the task from being solved by
low-level cues.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.image_grid import save_image_rows
from ssrl.heads import mlp
from ssrl.data.source import to_unit
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.pixel_head import eval_mode
from ssrl.pretext.registry import register
from ssrl.pretext.rotations import rotate_all
from ssrl.views import ViewConfig


@dataclass
class RotationConfig:
    num_rotations: int = 4  # the paper: 4 rotations beat 2 or 8
    head_hidden: int | None = None  # MLP head width; None = the backbone's width, 0 = a linear head


@register("rotation", family="transformation prediction", modality="image",
          paper="Gidaris et al. 2018, Unsupervised Representation Learning by Predicting Image Rotations")
class Rotation(Pretext):
    Config = RotationConfig
    optimizer = OptimizerDefaults(name="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9)
    bf16_checked = True  # B6 fm1k and digits, 3 seeds, fp32 against bf16 (BENCHMARKS.md, issue 21)

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.5, 1.0))

    def __init__(self, backbone: nn.Module, cfg: RotationConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        width = backbone.dim if cfg.head_hidden is None else cfg.head_hidden
        hidden = [width] if width else []
        self.head = mlp([backbone.dim, *hidden, cfg.num_rotations])  # k_γ

    def pseudolabels(self, x, index=None):          # P
        return rotate_all(self.views(x), self.cfg.num_rotations)  # (R·B, C, H, W), (R·B,)

    def loss(self, inputs, z):                          # L
        logits = self.head(self.backbone(inputs))
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}

    @torch.no_grad()
    def predicted_rotations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Image i of x (B, C, H, W) in [0, 1] rotated by (i mod R)·90°, the rotation k_γ predicts
        for it, and the image turned back by that prediction (upright where it is right)."""
        with eval_mode(self) as device:
            x = x.to(device)
            k = torch.arange(len(x), device=device) % self.cfg.num_rotations
            rotated = torch.stack([torch.rot90(img, int(r), dims=(1, 2)) for img, r in zip(x, k)])
            predicted = self.head(self.backbone(rotated)).argmax(1)
        turned_back = torch.stack([torch.rot90(img, -int(r), dims=(1, 2)) for img, r in zip(rotated, predicted)])
        return {"rotated": rotated, "predicted": predicted, "turned_back": turned_back, "truth": x}

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``rotations.png``: rotated inputs, then each turned back by the predicted rotation (a
        correct prediction shows the image upright), then the originals; first 8 images."""
        out = self.predicted_rotations(to_unit(sample[:8]))
        right = int((out["predicted"] == torch.arange(len(out["truth"]), device=out["predicted"].device)
                     % self.cfg.num_rotations).sum())
        save_image_rows(Path(run_dir) / "rotations.png", {
            "rotated input (0°, 90°, 180°, 270°, ...)": out["rotated"],
            f"turned back by the predicted rotation ({right} of {len(out['truth'])} right)": out["turned_back"],
            "original": out["truth"]})
