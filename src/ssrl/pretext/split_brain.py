"""Split-brain autoencoder. Zhang, Isola & Efros, 2017, "Split-Brain Autoencoders: Unsupervised
Learning by Cross-Channel Prediction", arXiv:1611.09842.

h_θ = [F_L(L), F_ab(ab)]: two disjoint sub-networks over the Lab channels of the image
(``ssrl.pretext.lab``), F_L seeing the lightness L, F_ab the colour ab. P: the two halves' inputs
and their cross-channel targets z = (ab, L), averaged over ``output_stride`` blocks. k_γ: a
``PixelDecoder`` per direction on its half's last feature map. L: the ab-from-L loss plus the
L-from-ab loss, both ``classification`` (the paper's best: cross-entropy over the
``ColourPrior``'s ab bins, optionally rebalanced as colorization's, and over ``l_bins`` equal
bins of L in [0, 100]) or both ``regression`` (squared error on ab / 110 and L / 100).

``wrap_backbone`` makes the seeded 3-channel backbone a ``SplitBrainBackbone``, which takes RGB
in [0, 1] and converts it to Lab inside: F_L *is* that backbone, fed L as grey RGB with its input
weights tied across R, G, B (an RGB backbone on its own, as colorization's h_θ), and F_ab a deep
copy whose first conv takes ab / 110, with the copy's first two input channels' weights.
Export: ``ssrl.runs.init_backbone`` passes the seeded backbone through ``wrap_backbone``, so the
whole ``SplitBrainBackbone`` is trained, saved (``save_backbone``), rebuilt from the seed and the
saved weights (``load_backbone``) and evaluated beside its random init: ``dim`` is the two halves'.

Departures from the paper (ImageNet; AlexNet cut into two half-width stacks; 313 ab bins and 50 L
bins, classification both ways): two full-width copies of the chosen backbone (``dim`` doubles);
262 ab bins (our Lab conversion's gamut); no rebalancing by default; targets at 1/2 of the image
side (1/4 from 128 px up); crop + flip views; the library's AdamW. Grey data are refused. Figures:
BENCHMARKS.md, "Colour tasks: held-out reconstruction error against the trivial baselines".
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.pretext.backbone_input import SplitBrainBackbone, input_channels
from ssrl.pretext.base import Pretext
from ssrl.pretext.colour_prior import ColourPrior, annealed_mean, require_loss, weighted_cross_entropy
from ssrl.pretext.lab import AB_RANGE, L_RANGE, grey_rgb, lab_to_rgb, require_colour, split_lab
from ssrl.pretext.pixel_head import PixelDecoder, block_means, feature_map, resize, save_reconstructions, target_size
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig


@dataclass
class SplitBrainConfig:
    loss: str = "classification"   # both directions: classification (the paper) | regression (L2)
    grid: float = 10.0             # side of the ab bins (the paper)
    l_bins: int = 50               # equal bins of L in [0, 100] (the paper)
    rebalance: bool = False        # colorization's class rebalancing of the ab direction
    rebalance_lambda: float = 0.5  # λ and σ of that rebalancing (colorization's)
    rebalance_sigma: float = 5.0
    temperature: float = 0.38      # annealed mean reading ab out of its bins (colorization's T)
    output_stride: int = 2         # targets at 1/stride of the image side
    decoder_width: int = 64


def l_bin_centres(n: int) -> torch.Tensor:
    """(n, 1) centres of n equal bins of L over [0, 100]."""
    return ((torch.arange(n, dtype=torch.float32) + 0.5) * L_RANGE / n)[:, None]


def quantize_l(l: torch.Tensor, n: int) -> torch.Tensor:
    """(B, 1, h, w) L in [0, 100] → (B, h, w) index of its bin among n equal bins."""
    return (l[:, 0] * n / L_RANGE).floor().long().clamp(0, n - 1)


@register("split_brain", family="masked prediction (generative)", modality="image",
          paper="Zhang et al. 2017, Split-Brain Autoencoders: Unsupervised Learning by Cross-Channel Prediction")
class SplitBrain(Pretext):
    Config = SplitBrainConfig
    needs_channels = 3  # colour is the target
    large_image_params = {"output_stride": 4}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return ViewConfig.geometric((0.5, 1.0))

    @classmethod
    def wrap_backbone(cls, backbone: nn.Module) -> SplitBrainBackbone:
        """h_θ as this method trains and exports it, from the backbone the engine built."""
        return backbone if isinstance(backbone, SplitBrainBackbone) else SplitBrainBackbone.from_backbone(backbone)

    def __init__(self, backbone: nn.Module, cfg: SplitBrainConfig, views: nn.Module):
        if not isinstance(backbone, SplitBrainBackbone):
            require_colour(input_channels(backbone), self.name)
        require_loss(cfg.loss, self.name)
        super().__init__(self.wrap_backbone(backbone), cfg, views)
        self.prior = ColourPrior(cfg.grid, cfg.output_stride, cfg.rebalance_lambda, cfg.rebalance_sigma)
        self.register_buffer("l_centres", l_bin_centres(cfg.l_bins))  # (l_bins, 1)
        ab_out, l_out = (len(self.prior.bins), cfg.l_bins) if self.classification else (2, 1)
        self.head = nn.ModuleDict({  # k_γ, one decoder per direction
            "ab": PixelDecoder(self.backbone.l_net.dim, ab_out, cfg.decoder_width),
            "l": PixelDecoder(self.backbone.ab_net.dim, l_out, cfg.decoder_width),
        })

    @property
    def classification(self) -> bool:
        return self.cfg.loss == "classification"

    def on_train_epoch_start(self, epoch, images, labels):
        require_colour(images.shape[1], self.name)
        return self.prior.count(images) if self.classification and self.cfg.rebalance else None  # once

    def pseudolabels(self, x, index=None):          # P
        x = self.views(x)
        inputs = self.backbone.inputs(x)  # refuses grey images
        l, ab = (block_means(t, self.cfg.output_stride) for t in split_lab(x))
        if self.classification:
            return inputs, (self.prior.quantize(ab), quantize_l(l, self.cfg.l_bins))
        return inputs, (ab / AB_RANGE, l / L_RANGE)

    def predict(self, inputs: tuple[torch.Tensor, torch.Tensor], size) -> tuple[torch.Tensor, torch.Tensor]:
        """k_γ(h_θ) of each half at ``size``: (ab logits or values, L logits or values)."""
        grey, ab = inputs
        return (self.head["ab"](feature_map(self.backbone.l_net, grey), size),
                self.head["l"](feature_map(self.backbone.ab_net, ab), size))

    def loss(self, inputs, z):                          # L
        z_ab, z_l = z
        out_ab, out_l = self.predict(inputs, z_ab.shape[-2:])
        if not self.classification:
            loss_ab, loss_l = F.mse_loss(out_ab, z_ab), F.mse_loss(out_l, z_l)
            return loss_ab + loss_l, {"loss_ab": loss_ab.detach(), "loss_l": loss_l.detach()}
        loss_ab = weighted_cross_entropy(out_ab, z_ab, self.prior.w if self.cfg.rebalance else None)
        loss_l = weighted_cross_entropy(out_l, z_l)
        return loss_ab + loss_l, {"loss_ab": loss_ab.detach(), "loss_l": loss_l.detach(),
                                  "pretext_acc_ab": (out_ab.argmax(1) == z_ab).float().mean(),
                                  "pretext_acc_l": (out_l.argmax(1) == z_l).float().mean()}

    @torch.no_grad()
    def cross_predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ab predicted from L (B, 2, H, W), L predicted from ab (B, 1, H, W)), Lab units, of RGB
        images x in [0, 1]; classes read out as the annealed mean (ab) and the mean (L)."""
        out_ab, out_l = self.predict(self.backbone.inputs(x), target_size(x.shape[-2:], self.cfg.output_stride))
        if self.classification:
            ab, l = self.prior.decode(out_ab, self.cfg.temperature), annealed_mean(out_l, self.l_centres, 1.0)
        else:
            ab, l = out_ab * AB_RANGE, out_l * L_RANGE
        return resize(ab, x.shape[-2:]), resize(l, x.shape[-2:])

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png``: rows L input, ab input (drawn at L = 50), ab predicted from L,
        L predicted from ab, truth."""
        def rows(x):
            (l, ab), (ab_from_l, l_from_ab) = split_lab(x), self.cross_predict(x)
            return {"input L": grey_rgb(l), "input ab": lab_to_rgb(torch.cat([torch.full_like(l, 50.0), ab], 1)),
                    "ab from L": lab_to_rgb(torch.cat([l, ab_from_l], 1)),
                    "L from ab": lab_to_rgb(torch.cat([l_from_ab, ab], 1)), "truth": x}
        save_reconstructions(self, run_dir, sample, rows)


__all__ = ["SplitBrain", "SplitBrainBackbone", "SplitBrainConfig", "l_bin_centres", "quantize_l"]
