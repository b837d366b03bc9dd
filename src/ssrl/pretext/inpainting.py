"""Context encoders: feature learning by inpainting. Pathak, Krähenbühl, Donahue, Darrell &
Efros, 2016, arXiv:1604.07379.

P: a mask M per image (``ssrl.pretext.masks``: a central square, random blocks or a random
region, a quarter of the area), the hidden pixels of the input filled with a constant, and
z = (x, M). h_θ: any backbone, which encodes the masked image to its pooled feature. k_γ: a
decoder from that feature to an image (a linear map to a 4 × 4 map, transposed convolutions
that double its side, a resize to the image's size) and, with ``adversarial``, a small
discriminator D. L: λ_rec · L_rec + λ_adv · L_adv, with L_rec the squared error over the hidden
pixels only, and L_adv the generator's side of the GAN objective, −log D(x̂) on the completed
image x̂ (prediction inside the hole, the truth outside), as the released code's BCE with "real"
labels.

The paper: λ_rec 0.999, λ_adv 0.001; the central mask is 64 × 64 of 128 × 128 (1/4 of the
area), random blocks and random regions cover up to 1/4; random blocks and regions gave
features of similar quality, both better than the central square, whose low-level features
latch on to its boundary, and its feature-learning experiments use random regions; the hole
is filled with the data set's mean pixel; Adam, lr 2e-4 with β₁ 0.5 and the encoder-decoder's
lr 10× the discriminator's when both losses are on, batch 64, random 128-px crops and flips
(its released code). The encoder for feature learning is AlexNet, the decoder a channel-wise
fully connected layer and five up-convolutions. The released code's option of predicting a
border overlapping the context with 10× weight (central mask) is not implemented.

Our choices: ``mask="region"``, the paper's choice for features, drawn as its released code
draws them (thresholded bicubically upsampled noise) with 8 noise cells per image side, so
blobs of about 3–4 px at 28 px; exactly 1/4 of the pixels hidden. The fill is the per-channel
mean of the batch's visible pixels, the batch's stand-in for the data set's mean that holds
nothing of the hidden pixels. Decoder of width 128 at 4 × 4 and 3 up-convolutions (32 px,
resized to the image: 28 px for Fashion-MNIST), output in [0, 1] through a sigmoid (the
paper's tanh for [−1, 1]); images of ``LARGE_IMAGE`` px or more get 5 up-convolutions (128 px)
from width 512, the released code's decoder. D is two stride-2 convolutions (32, 64 wide,
leaky ReLU 0.2) and a linear layer, without batch norm so that real and completed images share
no statistics. AdamW lr 1e-3 per 256 images, 0.2 warm-up epochs, as this library's other short
runs; crops of 50–100% of the area and flips. None of these is measured yet.

The adversarial term is off by default (``adversarial=True`` turns it on). The engine has one
optimizer over all parameters, so D's own objective, −log D(x) − log(1 − D(x̂)), is a second
term of the same loss: it sees x̂ detached (it trains D only), and the generator's term sees D
through a detached copy of its weights (it trains h_θ and the decoder only, never D). Unlike
the paper's alternating updates (a D step, then a generator step, each with its own Adam, the
generator at 10× D's lr), both take one simultaneous step from the same weights, at one lr and
weight decay; Adam's per-parameter normalization means weighting D's term would not change
its step size, so it has weight 1. D judges the completed image x̂, so the hole and its seams
against the context; the released code shows it the predicted central region alone, or with
random masks the whole predicted image.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ssrl.components.image_grid import save_image_rows
from ssrl.errors import SsrlError
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.masks import PIXEL_MASKS
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


def adversarial_terms(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's term −log D(fake), through a detached copy of D's weights (no gradient
    reaches D), and D's term −log D(real) − log(1 − D(fake)) on the detached fake (no gradient
    reaches the generator). D returns logits (B, 1)."""
    frozen = {name: p.detach() for name, p in disc.named_parameters()}
    fake_logits = functional_call(disc, frozen, (fake,))
    gen = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    real_logits, detached_logits = disc(real), disc(fake.detach())
    d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
         + F.binary_cross_entropy_with_logits(detached_logits, torch.zeros_like(detached_logits)))
    return gen, d


class InpaintingDecoder(nn.Module):
    """Pooled feature (B, dim) → image (B, C, H, W) in [0, 1]."""

    def __init__(self, dim: int, channels: int, width: int, stages: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(dim, width * 16, bias=False), nn.Unflatten(1, (width, 4, 4)),
                                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        c = width
        for _ in range(stages):
            out = max(c // 2, 16)
            layers += [nn.ConvTranspose2d(c, out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            c = out
        self.up = nn.Sequential(*layers)
        self.out = nn.Conv2d(c, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        y = F.interpolate(self.up(h), size=tuple(size), mode="bilinear", align_corners=False)
        return torch.sigmoid(self.out(y))


def discriminator(channels: int, width: int = 32) -> nn.Sequential:
    """D: image (B, C, H ≥ 4, W ≥ 4) → logit (B, 1), whatever the image size."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1),
    )


def image_channels(backbone: nn.Module) -> int:
    """The channels the backbone takes: those of its first convolution."""
    first = next((m for m in backbone.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise SsrlError(f"inpainting: cannot tell the image channels of backbone {type(backbone).__name__} "
                        f"(it has no convolution)")
    return first.in_channels


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
        channels = image_channels(backbone)
        parts = {"decoder": InpaintingDecoder(backbone.dim, channels, cfg.decoder_width, cfg.decoder_stages)}
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
        training = self.training
        self.eval()
        try:
            pred = self.head["decoder"](self.backbone(inputs), x.shape[-2:])
        finally:
            self.train(training)
        return {"masked input": inputs, "prediction": torch.where(mask, pred, x), "truth": x}

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png`` for the first 8 images, with a fixed mask draw."""
        p = next(self.head["decoder"].parameters())
        x = sample[:8].to(p.device, p.dtype) / 255
        save_image_rows(Path(run_dir) / "reconstructions.png", self.reconstruct(x, torch.Generator().manual_seed(0)))
