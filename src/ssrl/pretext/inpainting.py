"""Context encoders: feature learning by inpainting. Pathak, Krähenbühl, Donahue, Darrell &
Efros, 2016, arXiv:1604.07379.

P: a mask M per image (``ssrl.pretext.masks``: a central square, random blocks or a random
region, a quarter of the area), the hidden pixels of the input filled with a constant, and
z = (x, M). h_θ: any backbone, which encodes the masked image to its pooled feature. k_γ: a
decoder from that feature to an image (``PooledDecoder``) and, with ``adversarial``, a small
discriminator D (``ssrl.components.adversarial``). L: λ_rec · L_rec + λ_adv · L_adv, with L_rec
the squared error over the hidden pixels only, and L_adv the generator's side of the GAN
objective, −log D(x̂) on the completed image x̂ (prediction inside the hole, the truth outside),
as the released code's BCE with "real" labels.

The paper: λ_rec 0.999, λ_adv 0.001; holes of 1/4 of the area; random regions for feature
learning (random blocks do as well; the central square worse, its low-level features latching
on to its boundary); the hole filled with the data set's mean pixel; Adam, lr 2e-4, β₁ 0.5, the
encoder-decoder's lr 10× D's; batch 64, random 128-px crops and flips; an AlexNet encoder, a
channel-wise fully connected layer and five up-convolutions.

Departures: regions drawn as the released code draws them (thresholded, bicubically upsampled
noise), with 8 noise cells a side and exactly 1/4 of the pixels hidden. The fill is the
per-channel mean of the batch's visible pixels, the batch's stand-in for the data set's mean
that holds nothing of the hidden pixels. The decoder: width 128 at 4 × 4 and 3 up-convolutions
(32 px, resized to the image), output in [0, 1] through a sigmoid (the paper's tanh for
[−1, 1]); from ``LARGE_IMAGE`` px, the released code's 5 up-convolutions from width 512. AdamW
lr 1e-3 per 256 images, 0.2 warm-up epochs; crops of 50–100 % of the area and flips. The
released code's border overlapping the context with 10× weight (central mask) is not implemented.

The adversarial term is off by default. The engine has one optimizer, so D's own objective is a
second term of the same loss and both sides take one simultaneous step at one lr (see
``ssrl.components.adversarial``), unlike the paper's alternating updates with an Adam each. D
judges the completed image x̂, so the hole and its seams against the context; the released code
shows it the predicted central region alone, or with random masks the whole predicted image.

Figures: BENCHMARKS.md, "Issue 4: predictive tasks on B1" (Inpainting).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ssrl.components.adversarial import adversarial_terms, discriminator
from ssrl.errors import SsrlError
from ssrl.pretext.backbone_input import image_channels
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.masks import PIXEL_MASKS
from ssrl.pretext.pixel_head import PooledDecoder, eval_mode, save_reconstructions
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class InpaintingConfig:
    mask: str = "region"          # central | block | region; the paper's choice for features: region
    mask_area: float = 0.25       # hidden fraction (central: exactly; block: at most; region: exactly), as the paper
    block_size: float = 0.25      # mask="block": side of each block, a fraction of the image's
    region_cells: int = 8         # mask="region": noise cells per image side (the released code: ~8)
    rec_weight: float = 0.999     # λ_rec, as the paper
    adv_weight: float = 0.001     # λ_adv, as the paper
    adversarial: bool = False     # add L_adv and train the discriminator D
    decoder_width: int = 128      # channels of the decoder's 4 × 4 map; halved by each up-convolution
    decoder_stages: int = 3       # up-convolutions: the decoder's map is 4 · 2^stages px a side


def fill_holes(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) with the pixels under mask (B, 1, H, W) set to the per-channel mean of
    the batch's visible pixels."""
    visible = (~mask).to(x.dtype)
    fill = (x * visible).sum(dim=(0, 2, 3), keepdim=True) / visible.sum().clamp_min(1)
    return torch.where(mask, fill, x)


def hole_mse(pred: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_rec: the squared error of pred against x averaged over the hidden pixels (and channels) only."""
    hidden = mask.to(pred.dtype)
    return ((pred - x) ** 2 * hidden).sum() / (hidden.sum() * x.shape[1]).clamp_min(1)


@register("inpainting", family="masked prediction (generative)", modality="image",
          paper="Pathak et al. 2016, Context Encoders: Feature Learning by Inpainting")
class Inpainting(Pretext):
    Config = InpaintingConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=1e-6, warmup_epochs=0.2)
    large_image_params = {"decoder_width": 512, "decoder_stages": 5}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.5, 1.0))

    def __init__(self, backbone: nn.Module, cfg: InpaintingConfig, views: nn.Module):
        if cfg.mask not in PIXEL_MASKS:
            raise SsrlError(f"inpainting: unknown mask {cfg.mask!r}; choose one of: {', '.join(PIXEL_MASKS)}")
        super().__init__(backbone, cfg, views)
        channels = image_channels(backbone, self.name)
        parts = {"decoder": PooledDecoder(backbone.dim, channels, cfg.decoder_width, cfg.decoder_stages)}
        if cfg.adversarial:
            parts["discriminator"] = discriminator(channels)
        self.head = nn.ModuleDict(parts)                # k_γ

    def draw_mask(self, batch: int, height: int, width: int, device=None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """M (B, 1, H, W), True where hidden, of the configured kind."""
        cfg = self.cfg
        options = {"block": {"block": cfg.block_size}, "region": {"cells": cfg.region_cells}}.get(cfg.mask, {})
        return PIXEL_MASKS[cfg.mask](batch, height, width, cfg.mask_area, device=device, generator=generator, **options)

    def pseudolabels(self, x, index=None):          # P
        x = self.views(x)
        mask = self.draw_mask(len(x), *x.shape[-2:], device=x.device)
        return fill_holes(x, mask), (x, mask)

    def loss(self, inputs, z):                          # L
        x, mask = z
        pred = self.head["decoder"](self.backbone(inputs), x.shape[-2:])
        rec = hole_mse(pred, x, mask)
        loss, logs = self.cfg.rec_weight * rec, {"rec_loss": rec.detach()}
        if self.cfg.adversarial:
            gen, disc = adversarial_terms(self.head["discriminator"], x, torch.where(mask, pred, x))
            loss = loss + self.cfg.adv_weight * gen + disc
            logs |= {"adv_gen": gen.detach(), "adv_disc": disc.detach()}
        return loss, logs

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Rows of the reconstruction picture for images x (B, C, H, W) in [0, 1]: the masked
        input as the encoder sees it, the prediction pasted into the hole, the truth. Runs in
        eval mode, so batch norm uses its running statistics and leaves them as they were."""
        mask = self.draw_mask(len(x), *x.shape[-2:], generator=generator).to(x.device)
        inputs = fill_holes(x, mask)
        with eval_mode(self):
            pred = self.head["decoder"](self.backbone(inputs), x.shape[-2:])
        return {"masked input": inputs, "prediction": torch.where(mask, pred, x), "truth": x}

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png`` for the first 8 images, with a fixed mask draw."""
        save_reconstructions(self, run_dir, sample, lambda x: self.reconstruct(x, torch.Generator().manual_seed(0)))
