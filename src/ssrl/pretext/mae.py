"""Masked autoencoders (MAE). He, Chen, Xie, Li, Dollár & Girshick, 2022, arXiv:2111.06377.

P: the image cut into the ViT's p × p patches; I = a uniformly random subset of the patch
indices of each image (``ssrl.pretext.masks.random_patch_mask``, ratio 0.75), and z = x[I], the
pixels of the masked patches, each normalized by its own mean and variance when
``norm_pix_loss`` (the paper's better target, Table 1d). h_θ: a ViT that encodes x without I,
only the visible patches (``ViT.tokens(x, keep)``; no mask tokens enter the encoder). k_γ: a
light decoder: the encoded tokens projected to the decoder's width, a learned mask token put at
every masked position, position embeddings added to all, a few Transformer blocks and a linear
map to each patch's p²·C pixels. L: the mean squared error on the masked patches only.

The paper: ViT-B/L/H encoders; a decoder of 8 blocks of width 512 (16 heads), with fixed
sine-cosine position embeddings (ours are learned, like our ViT's); mask ratio 0.75;
random-resized crops (area 0.2–1) and flips as the only augmentation; AdamW, β = (0.9, 0.95),
lr 1.5e-4 · batch/256 at batch 4096, weight decay 0.05, 40 warm-up epochs of 800–1600, then
cosine decay. Images of ``LARGE_IMAGE`` px or more get its decoder.

Small images (28 × 28 Fashion-MNIST with ``vit-mini``: 7 × 7 patches of 4 px, width 128, depth
4; ``vit-tiny`` works too): the decoder keeps the paper's proportions to ViT-L (half the width,
a third of the depth): 2 blocks of width 64, 4 heads; 2 rather than 1 because the paper's
linear-probe accuracy grows with the decoder's depth (its Table 1a), and our protocol probes
frozen features. The ratio 0.75 leaves 12 of 49 patches visible. AdamW lr 1e-3 per 256 images
with 0.2 warm-up epochs, as this library's other short runs (the paper's 1.5e-4 per 256 is for
batch 4096 over 800 epochs); weight decay 0.05 as the paper; β₂ stays AdamW's 0.999 (the
optimizer defaults have no β). None of these small-image values was tuned. Figures:
BENCHMARKS.md, "Issue 4", the MAE item.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.vit import Block
from ssrl.components.image_grid import save_image_rows
from ssrl.data.source import to_unit
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.masks import random_patch_mask
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

NORM_PIX_EPS = 1e-6  # the paper's code


@dataclass
class MAEConfig:
    mask_ratio: float = 0.75     # as the paper
    decoder_dim: int = 64        # the paper: 512
    decoder_depth: int = 2       # the paper: 8
    decoder_heads: int = 4       # the paper: 16
    norm_pix_loss: bool = True   # per-patch normalized targets, as the paper's best


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) → (B, n, p·p·C): the p × p patches in the ViT's row-major token order, each
    flattened row by row with the channels innermost."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # (B, gh, gw, p, p, C)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, p: int, height: int, width: int) -> torch.Tensor:
    """The inverse of ``patchify``: (B, n, p·p·C) → (B, C, height, width)."""
    b, _, d = patches.shape
    c = d // (p * p)
    x = patches.reshape(b, height // p, width // p, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, height, width)


def gather_patches(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` (B, k) of each image's sequence t (B, n, d): (B, k, d)."""
    return t.gather(1, index.unsqueeze(-1).expand(-1, -1, t.shape[-1]))


def patch_stats(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each patch's mean and std over its pixels (B, n, 1) each; unbiased variance plus
    ``NORM_PIX_EPS`` under the root, as the paper's code."""
    return patches.mean(dim=-1, keepdim=True), (patches.var(dim=-1, keepdim=True) + NORM_PIX_EPS).sqrt()


def normalize_patches(patches: torch.Tensor) -> torch.Tensor:
    """The normalized-pixel target: each patch minus its mean, over its std."""
    mean, std = patch_stats(patches)
    return (patches - mean) / std


def masked_mse(pred: torch.Tensor, z: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """L: the mean squared error between the predictions at the masked patches, rows ``masked``
    (B, m) of ``pred`` (B, n, d), and their targets z (B, m, d); the visible patches' predictions
    take no part."""
    return F.mse_loss(gather_patches(pred, masked), z)


class MAEDecoder(nn.Module):
    """k_γ: from the encoder's tokens of the visible patches to pixels of every patch."""

    def __init__(self, encoder_dim: int, num_patches: int, patch_pixels: int, dim: int, depth: int, heads: int):
        super().__init__()
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.empty(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.empty(1, 1 + num_patches, dim))  # CLS first, as the encoder's
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.predict = nn.Linear(dim, patch_pixels)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-0.04, b=0.04)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
                nn.init.zeros_(m.bias)

    def forward(self, latent: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """latent (B, 1 + k, D): the encoder's CLS and the tokens of patches ``visible`` (B, k).
        Returns predicted pixels (B, n, p·p·C) for all n patches, in row-major order."""
        t = self.embed(latent)
        b, n, d = len(t), self.pos_embed.shape[1] - 1, t.shape[-1]
        patches = self.mask_token.to(t.dtype).expand(b, n, d).scatter(1, visible.unsqueeze(-1).expand(-1, -1, d), t[:, 1:])
        t = torch.cat([t[:, :1], patches], dim=1) + self.pos_embed
        for block in self.blocks:
            t = block(t)
        return self.predict(self.norm(t[:, 1:]))


@register("mae", family="masked prediction (generative)", modality="image",
          paper="He et al. 2022, Masked Autoencoders Are Scalable Vision Learners")
class MAE(Pretext):
    Config = MAEConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=0.05, warmup_epochs=0.2)
    bf16_checked = True  # B6 fm1k and digits, 3 seeds, fp32 against bf16 (BENCHMARKS.md, issue 21)
    default_backbone = "vit-mini"
    backbone_kinds = ("ViT",)  # its encoder skips the masked patches
    large_image_params = {"decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.2, 1.0))

    def __init__(self, backbone: nn.Module, cfg: MAEConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        p, channels = backbone.patch_size, backbone.patch_embed.in_channels
        self.head = MAEDecoder(backbone.dim, backbone.grid ** 2, p * p * channels,          # k_γ
                               cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_heads)

    def _num_patches(self, x: torch.Tensor) -> int:
        n = self.backbone.num_patches(x.shape[-1]) if x.shape[-1] == x.shape[-2] else -1
        if n != self.head.pos_embed.shape[1] - 1:
            raise ValueError(f"mae: inputs of {x.shape[-2]}×{x.shape[-1]} px; the decoder is built for square "
                             f"images of {self.backbone.image_size} px")
        return n

    def pseudolabels(self, x, index=None):          # P
        x = self.views(x)
        masked, visible = random_patch_mask(len(x), self._num_patches(x), self.cfg.mask_ratio, device=x.device)
        z = gather_patches(patchify(x, self.backbone.patch_size), masked)  # z = x[I]
        if self.cfg.norm_pix_loss:
            z = normalize_patches(z)
        return (x, visible, masked), z

    def loss(self, inputs, z):                          # L
        x, visible, masked = inputs
        pred = self.head(self.backbone.tokens(x, keep=visible), visible)  # h_θ sees x without I
        return masked_mse(pred, z, masked), {}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Rows of the reconstruction picture for images x (B, C, H, W) in [0, 1]: the masked
        input (hidden patches grey), the prediction with the visible patches pasted back, and
        the truth. With ``norm_pix_loss`` the predicted patches are de-normalized with the true
        patches' mean and std, as the paper's figures are (the model predicts neither)."""
        p = self.backbone.patch_size
        masked, visible = random_patch_mask(len(x), self._num_patches(x), self.cfg.mask_ratio, generator=generator)
        masked, visible = masked.to(x.device), visible.to(x.device)
        truth = patchify(x, p)
        pred = self.head(self.backbone.tokens(x, keep=visible), visible)
        if self.cfg.norm_pix_loss:
            mean, std = patch_stats(truth)
            pred = pred * std + mean
        hidden = torch.zeros(truth.shape[:2], dtype=torch.bool, device=x.device).scatter_(1, masked, True).unsqueeze(-1)
        rows = {"masked input": torch.where(hidden, 0.5, truth), "prediction": torch.where(hidden, pred, truth)}
        h, w = x.shape[-2:]
        return {**{k: unpatchify(v, p, h, w) for k, v in rows.items()}, "truth": x}

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png``: masked input / prediction / truth for the first 8 images,
        with a fixed mask draw so that runs are comparable."""
        x = to_unit(sample[:8]).to(self.head.pos_embed.device, self.head.pos_embed.dtype)
        save_image_rows(Path(run_dir) / "reconstructions.png", self.reconstruct(x, torch.Generator().manual_seed(0)))
