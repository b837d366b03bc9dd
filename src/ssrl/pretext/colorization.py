"""Colorization. Zhang, Isola & Efros, 2016, "Colorful Image Colorization", arXiv:1603.08511.

P: an image's lightness L (CIE Lab, ``ssrl.pretext.lab``) is the input, its colour ab the
target z, averaged over ``output_stride`` × ``output_stride`` blocks (colour is smooth; the
paper predicts at 1/4 resolution too). k_γ: ``PixelDecoder`` on h_θ's last feature map,
upsampling to z's size. L, chosen by ``loss``:

* ``classification`` (the paper): z is each target pixel's ab bin (``ColourPrior``: the bins of
  side ``grid`` that the sRGB gamut reaches) and L the cross-entropy over the bins, each pixel
  weighted by the class rebalancing w of eq. 3–4 (λ, σ), counted over D_s at the first epoch
  start. Colours are read out as the annealed mean of the predicted distribution (eq. 5, T).
* ``regression`` (the paper's baseline, which it finds greyish, as the mean of a multimodal
  colour distribution): mean squared error on ab / 110.

h_θ keeps the 3 input channels it was built with, since the engine exports that very module and
``ssrl evaluate`` feeds it RGB images: it gets L as the sRGB grey of that lightness, R = G = B
(``grey_rgb``), and its first conv's weights are tied across R, G, B at the start
(``tie_input_channels``). Grey inputs give the three identical gradients, so they stay tied and
the exported h_θ reads an RGB image as its grey mean(R, G, B), as the paper evaluates its
features on L alone. Grey (1-channel) data are refused: there is no colour to predict.

Departures from the paper (ImageNet, a VGG-style net at 256 px; λ = 0.5, σ = 5, T = 0.38 as
here; Adam lr 3e-5, β2 0.99, weight decay 1e-3): Q = 262 bins in our Lab conversion (the paper's
gamut estimate: 313); hard targets (the nearest bin), where the paper soft-encodes each pixel
over its 5 nearest bins (σ = 5), which costs a distance to every bin per pixel; p counted on up
to ``colour_prior.PRIOR_IMAGES`` images of D_s, unaugmented; ab at 1/2 of the image side (the
paper's 1/4 from 128 px up); the library's AdamW (lr 1e-3 per 256 images); crops of 50–100 % of
the area and flips, no colour jitter (it would change the target).

Figures: BENCHMARKS.md, "Colour tasks: held-out reconstruction error against the trivial baselines".
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.pretext.backbone_input import input_channels, tie_input_channels
from ssrl.pretext.base import Pretext
from ssrl.pretext.colour_prior import ColourPrior, require_loss, weighted_cross_entropy
from ssrl.pretext.lab import AB_RANGE, grey_rgb, lab_to_rgb, require_colour, split_lab
from ssrl.pretext.pixel_head import PixelDecoder, block_means, feature_map, resize, save_reconstructions, target_size
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class ColorizationConfig:
    loss: str = "classification"   # classification over ab bins (the paper) | regression (L2 on ab)
    grid: float = 10.0             # side of the ab bins (the paper)
    rebalance: bool = True         # class rebalancing (the paper)
    rebalance_lambda: float = 0.5  # λ: weight of the uniform distribution mixed into p̃ (the paper)
    rebalance_sigma: float = 5.0   # σ of the Gaussian smoothing of the empirical distribution (the paper)
    temperature: float = 0.38      # T of the annealed mean that reads colours out (the paper)
    output_stride: int = 2         # ab predicted at 1/stride of the image side (the paper: 4)
    decoder_width: int = 64        # channels of k_γ's decoder


@register("colorization", family="masked prediction (generative)", modality="image",
          paper="Zhang et al. 2016, Colorful Image Colorization")
class Colorization(Pretext):
    Config = ColorizationConfig
    needs_channels = 3  # colour is the target
    large_image_params = {"output_stride": 4}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.5, 1.0))

    @classmethod
    def wrap_backbone(cls, backbone: nn.Module) -> nn.Module:
        """h_θ as this method trains it: the engine's backbone with its RGB input weights tied."""
        return tie_input_channels(backbone)

    def __init__(self, backbone: nn.Module, cfg: ColorizationConfig, views: nn.Module):
        require_colour(input_channels(backbone), self.name)
        require_loss(cfg.loss, self.name)
        super().__init__(self.wrap_backbone(backbone), cfg, views)
        self.prior = ColourPrior(cfg.grid, cfg.output_stride, cfg.rebalance_lambda, cfg.rebalance_sigma)
        outputs = len(self.prior.bins) if self.classification else 2
        self.head = PixelDecoder(backbone.dim, outputs, cfg.decoder_width)  # k_γ

    @property
    def classification(self) -> bool:
        return self.cfg.loss == "classification"

    def on_train_epoch_start(self, epoch, images, labels):
        require_colour(images.shape[1], self.name)
        return self.prior.count(images, self.cfg.rebalance) if self.classification else None  # once, then checkpointed

    def pseudolabels(self, x, index=None):          # P
        require_colour(x.shape[1], self.name)
        l, ab = split_lab(self.views(x))
        ab = block_means(ab, self.cfg.output_stride)
        return grey_rgb(l), self.prior.quantize(ab) if self.classification else ab / AB_RANGE

    def loss(self, inputs, z):                          # L
        out = self.head(feature_map(self.backbone, inputs), z.shape[-2:])
        if not self.classification:
            return F.mse_loss(out, z), {}
        loss = weighted_cross_entropy(out, z, self.prior.w if self.cfg.rebalance else None)
        return loss, {"pretext_acc": (out.argmax(1) == z).float().mean()}

    @torch.no_grad()
    def colorize(self, x: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Predicted ab (B, 2, H, W) in Lab units of RGB images x (B, 3, H, W) in [0, 1], from
        their L alone; classification reads colours out as the annealed mean (``temperature``,
        default the config's)."""
        l, _ = split_lab(x)
        out = self.head(feature_map(self.backbone, grey_rgb(l)), target_size(x.shape[-2:], self.cfg.output_stride))
        t = self.cfg.temperature if temperature is None else temperature
        return resize(self.prior.decode(out, t) if self.classification else out * AB_RANGE, x.shape[-2:])

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png``: rows input (L as grey), prediction (L + predicted ab), truth."""
        def rows(x):
            l = split_lab(x)[0]
            return {"input": grey_rgb(l), "prediction": lab_to_rgb(torch.cat([l, self.colorize(x)], 1)), "truth": x}
        save_reconstructions(self, run_dir, sample, rows)


__all__ = ["Colorization", "ColorizationConfig"]
