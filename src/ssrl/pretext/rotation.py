"""Rotation prediction (RotNet). Gidaris, Singh & Komodakis, 2018, arXiv:1803.07728.

P: each image of the batch in all four rotations (0°, 90°, 180°, 270°), z = which one; the
paper found feeding all four rotations of an image in the same batch better than one random
rotation. k_γ: a linear classifier on h_θ. L: cross-entropy. Optimizer: the paper's SGD,
momentum 0.9, weight decay 5e-4, lr 0.1 at batch 128 (0.05 per 64 images × 4 rotations).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.pretext.rotations import rotate_all


@dataclass
class RotationConfig:
    num_rotations: int = 4  # the paper: 4 rotations beat 2 or 8


@register("rotation", family="transformation prediction", modality="image",
          paper="Gidaris et al. 2018, Unsupervised Representation Learning by Predicting Image Rotations")
class Rotation(Pretext):
    Config = RotationConfig
    optimizer = OptimizerDefaults(name="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9)

    def __init__(self, backbone: nn.Module, cfg: RotationConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = nn.Linear(backbone.dim, cfg.num_rotations)  # k_γ

    def pseudolabels(self, x):                          # P
        return rotate_all(self.views(x), self.cfg.num_rotations)  # (R·B, C, H, W), (R·B,)

    def loss(self, inputs, z):                          # L
        logits = self.head(self.backbone(inputs))
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}
