"""Super-resolution: restore an image from a low-resolution copy of it. The objective of SRCNN
(Dong et al. 2014, arXiv:1501.00092) and VDSR (Kim, Lee & Lee 2016, arXiv:1511.04587), with the
optional content loss of Johnson, Alahi & Fei-Fei 2016 (arXiv:1603.08155) and SRGAN (Ledig et al.
2017, arXiv:1609.04802). Grey and colour images alike.

P: x is the image shrunk by ``factor`` (``downsample``: block means or antialiased bicubic) and
enlarged back to its size (``upsample``: bilinear or bicubic), as SRCNN and VDSR feed their
networks, so two images with the same low-res copy give the same x; z is the image. k_γ:
``PixelDecoder`` on h_θ's last feature map (with ``decoder_skip``, also h_θ's deepest
full-resolution map, as a U-Net's skip) predicting the residual z − x (VDSR, ``residual``), its
last layer scaled by 0.1 at init, so an untrained model starts near the trivial baseline x.
L: mean squared error to z, plus ``content_weight`` × Johnson et al.'s ℓ_feat: the squared error
between φ's last feature maps of prediction and image, relative to the image's mean square.

Departures from the papers (×4; 96 or 288 px patches; bicubic downsampling, after a blur in
Johnson et al.; φ an ImageNet-trained VGG; Adam): ×2 (×4 from 128 px up), area downsampling,
bilinear enlargement; h_θ gets the enlarged image, not the low-res one as Johnson et al. and
SRGAN, so its input has the size it is evaluated at (and a ViT's patch grid stays intact); φ a
frozen copy of h_θ at its random init, in eval mode (no weights to download; random conv
features respond to edges and textures too, but far more weakly than a trained network's, so the
term is off by default); flips only; AdamW 1e-3 per 256 images. ``decoder_skip`` is off by
default: it restores detail better but leaves h_θ's pooled features worse (the early layers then
do the restoring, the deep ones learn less). Figures: BENCHMARKS.md, "Colour tasks: held-out
reconstruction error against the trivial baselines" and "Issue 4: predictive tasks on B1".
"""

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.momentum import frozen_copy
from ssrl.errors import SsrlError
from ssrl.pretext.backbone_input import image_channels
from ssrl.pretext.base import Pretext
from ssrl.pretext.pixel_head import (PixelDecoder, block_means, feature_map, feature_maps, full_resolution_channels,
                                     save_reconstructions, target_size)
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

DOWNSAMPLE = ("area", "bicubic")
UPSAMPLE = ("bilinear", "bicubic")


@dataclass
class SuperResolutionConfig:
    factor: int = 2                # low-res side = side // factor (SRGAN, Johnson et al.: 4)
    downsample: str = "area"       # area (block means) | bicubic (antialiased; SRGAN's kernel)
    upsample: str = "bilinear"     # how x is enlarged back to full size: bilinear | bicubic
    residual: bool = True          # k_γ predicts z − x (VDSR)
    content_weight: float = 0.0    # weight of the content loss on a frozen random-init copy of h_θ
    decoder_width: int = 64
    decoder_skip: bool = False     # k_γ also reads h_θ's full-resolution map (a U-Net skip; none for ViTs)


def low_resolution(x: torch.Tensor, factor: int, mode: str = "area") -> torch.Tensor:
    """x (B, C, H, W) shrunk to (H // factor, W // factor), at least 1 px a side."""
    if mode == "area":
        return block_means(x, factor)
    size = target_size(x.shape[-2:], factor)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def enlarge(low: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """The low-res image interpolated back to ``size``: with "bilinear", the trivial baseline."""
    return F.interpolate(low, size=size, mode=mode, align_corners=False).clamp(0, 1)


def degrade(x: torch.Tensor, factor: int, downsample: str = "area", upsample: str = "bilinear") -> torch.Tensor:
    """P's input: x shrunk by ``factor`` and enlarged back to its own size."""
    return enlarge(low_resolution(x, factor, downsample), tuple(x.shape[-2:]), upsample)


def content_loss(phi: nn.Module, prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """mean((φ(ŷ) − φ(y))²) / mean(φ(y)²) on φ's last feature maps; relative, as a random network's
    features have an arbitrary scale (a deep random convnet in eval mode shrinks them by orders of
    magnitude). Only the prediction's side carries a gradient; φ's weights are frozen."""
    with torch.no_grad():
        reference = feature_map(phi, target)
    return F.mse_loss(feature_map(phi, prediction), reference) / (reference.square().mean() + eps)


@register("super_resolution", family="masked prediction (generative)", modality="image",
          paper="Johnson et al. 2016, Perceptual Losses for Real-Time Style Transfer and Super-Resolution; "
                "Ledig et al. 2017 (SRGAN)")
class SuperResolution(Pretext):
    Config = SuperResolutionConfig
    large_image_params = {"factor": 4}

    @classmethod
    def default_views(cls) -> ViewConfig:
        return replace(ViewConfig.none(), hflip=0.5)

    def __init__(self, backbone: nn.Module, cfg: SuperResolutionConfig, views: nn.Module):
        if cfg.downsample not in DOWNSAMPLE or cfg.upsample not in UPSAMPLE:
            raise SsrlError(f"super_resolution: downsample must be one of {', '.join(DOWNSAMPLE)} and upsample one of "
                            f"{', '.join(UPSAMPLE)}, got {cfg.downsample!r} and {cfg.upsample!r}")
        if cfg.factor < 2:
            raise SsrlError(f"super_resolution: factor must be at least 2, got {cfg.factor}")
        channels = image_channels(backbone, self.name)
        super().__init__(backbone, cfg, views)
        # φ: copied before any training step, so it is h_θ at its random init; never trained.
        self.content_net = frozen_copy(backbone).eval() if cfg.content_weight > 0 else None
        skip_dim = full_resolution_channels(backbone, channels) if cfg.decoder_skip else 0
        self.head = PixelDecoder(backbone.dim, channels, cfg.decoder_width, skip_dim)  # k_γ: the image's channels
        if cfg.residual:  # start near the baseline x, with gradients still reaching h_θ (zero would stop them)
            with torch.no_grad():
                self.head.out.weight.mul_(0.1)
                self.head.out.bias.zero_()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.content_net is not None:
            self.content_net.eval()  # fixed BN statistics: φ must not drift with the batches
        return self

    def pseudolabels(self, x, index=None):          # P
        z = self.views(x)  # flips only: a resized crop is itself a blurred upsample, a wrong target
        return degrade(z, self.cfg.factor, self.cfg.downsample, self.cfg.upsample), z

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """k_γ(h_θ(x)) at x's size, plus x itself when ``residual``."""
        last, full = feature_maps(self.backbone, inputs, full_resolution=self.head.skip_dim > 0)
        out = self.head(last, tuple(inputs.shape[-2:]), full)
        return out + inputs if self.cfg.residual else out

    def loss(self, inputs, z):                          # L
        prediction = self.predict(inputs)
        pixel = F.mse_loss(prediction, z)
        logs = {"pixel_mse": pixel.detach(), "baseline_mse": F.mse_loss(inputs, z).detach()}
        if self.content_net is None:
            return pixel, logs
        content = content_loss(self.content_net, prediction, z)
        logs["content_mse"] = content.detach()
        return pixel + self.cfg.content_weight * content, logs

    @torch.no_grad()
    def super_resolve(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(P's input, the prediction clipped to [0, 1]) for images x (B, C, H, W) in [0, 1]."""
        inputs = degrade(x, self.cfg.factor, self.cfg.downsample, self.cfg.upsample)
        return inputs, self.predict(inputs).clamp(0, 1)

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png``: rows input (the enlarged low-res image), prediction, truth."""
        def rows(x):
            inputs, prediction = self.super_resolve(x)
            return {"input": inputs, "prediction": prediction, "truth": x}
        save_reconstructions(self, run_dir, sample, rows)


__all__ = ["SuperResolution", "SuperResolutionConfig", "content_loss", "degrade", "enlarge", "low_resolution"]
