"""Super-resolution as a pretext task: restore an image from a low-resolution copy of it.

The reconstruction objective of SRCNN (Dong et al. 2014, arXiv:1501.00092) and VDSR (Kim,
Lee & Lee 2016, arXiv:1511.04587), with the optional content (feature reconstruction) loss of
Johnson, Alahi & Fei-Fei 2016 (arXiv:1603.08155) and Ledig et al. 2017 (SRGAN, arXiv:1609.04802).

P: x is the image shrunk by ``factor`` (block means, ``downsample`` = "area"; or antialiased
bicubic) and enlarged back to full size (``upsample`` = "bilinear" or "bicubic"), as SRCNN and
VDSR feed their networks; z is the image. Feeding the enlarged image, rather than the low-res
one as Johnson et al. and SRGAN do, keeps h_θ's input at the size it is evaluated at (and the
ViT patch grid intact). x carries the low-resolution image's information only: two images with
the same low-res copy give the same x. k_γ: ``PixelDecoder`` on h_θ's last feature map and,
with ``decoder_skip``, h_θ's deepest full-resolution map as well (``pixel_head.feature_maps``),
predicting the residual z − x (VDSR; ``residual``), its last layer's initial weights scaled by
0.1, so an untrained model starts close to the trivial baseline, the enlarged input itself.
L: mean squared error to z, plus ``content_weight`` × the mean squared error between the
feature maps of prediction and image under a fixed network φ (Johnson et al.'s ℓ_feat,
normalised per element), divided by the mean square of the target's features.

φ: Johnson et al. and SRGAN use an ImageNet-trained VGG, which we cannot download; φ here is a
frozen copy of h_θ at its random initialisation, last feature map, kept in eval mode. It fits
any channel count and size, costs no weights file, and random conv features still respond to
edges and textures that the pixel loss averages away; it is a much weaker perceptual measure
than a trained network, so the term is off by default (``content_weight`` = 0).

Works for grey and colour images. Paper values: ×4 (SRGAN, Johnson et al.), 96 px (SRGAN) and
288 px (Johnson) patches, bicubic (SRGAN) or Gaussian blur + bicubic (Johnson) downsampling,
VGG content losses (SRGAN's VGG54, Johnson's relu2_2), Adam at 1e-4 (SRGAN) / 1e-3 (Johnson).
Ours for small images: ×2 (×4 from 128 px up), area downsampling, bilinear enlargement, flips
only (a resized crop would itself be a blurred upsample, a wrong target), AdamW 1e-3 per 256.

``decoder_skip`` is off by default: the skip restores detail better (32 px crops of ten colour
photographs, held-out error 0.56 × bilinear's against 0.63 × without it, BENCHMARKS.md) but leaves h_θ's
pooled features worse (B1 kNN 0.767 against 0.792 without it, under the random-init 0.779):
the early layers then do the restoring and the deep ones learn less.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.image_grid import save_image_rows
from ssrl.errors import SsrlError
from ssrl.pretext.backbone_input import input_channels
from ssrl.pretext.base import Pretext
from ssrl.pretext.pixel_head import PixelDecoder, eval_mode, feature_map, feature_maps, full_resolution_channels
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

DOWNSAMPLE = ("area", "bicubic")
UPSAMPLE = ("bilinear", "bicubic")
RESIDUAL_INIT_SCALE = 0.1  # k_γ's last layer starts at 0.1 × its default init when predicting residuals


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
    size = (max(1, x.shape[-2] // factor), max(1, x.shape[-1] // factor))
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def enlarge(low: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """The low-res image interpolated back to ``size``; with "bilinear" this is the trivial
    baseline every prediction is measured against."""
    return F.interpolate(low, size=size, mode=mode, align_corners=False).clamp(0, 1)


def degrade(x: torch.Tensor, factor: int, downsample: str = "area", upsample: str = "bilinear") -> torch.Tensor:
    """P's input: x shrunk by ``factor`` and enlarged back to its own size."""
    return enlarge(low_resolution(x, factor, downsample), tuple(x.shape[-2:]), upsample)


def content_loss(phi: nn.Module, prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Squared error between φ's last feature maps of prediction and target, relative to the
    target features' mean square: mean((φ(ŷ) − φ(y))²) / mean(φ(y)²). A random network's features
    have an arbitrary scale (a deep random convnet in eval mode shrinks them by orders of
    magnitude), so the relative error keeps ``content_weight`` meaningful across backbones.
    The target's side carries no gradient; φ's weights are frozen; the prediction's gradient flows."""
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
        return ViewConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=0.5, jitter=0.0, grayscale=0.0)

    def __init__(self, backbone: nn.Module, cfg: SuperResolutionConfig, views: nn.Module):
        if cfg.downsample not in DOWNSAMPLE or cfg.upsample not in UPSAMPLE:
            raise SsrlError(f"super_resolution: downsample must be one of {', '.join(DOWNSAMPLE)} and upsample one of "
                            f"{', '.join(UPSAMPLE)}, got {cfg.downsample!r} and {cfg.upsample!r}")
        if cfg.factor < 2:
            raise SsrlError(f"super_resolution: factor must be at least 2, got {cfg.factor}")
        channels = input_channels(backbone)
        if channels is None:
            raise SsrlError(f"super_resolution: cannot tell how many channels {type(backbone).__name__} takes "
                            "(it has no convolution)")
        super().__init__(backbone, cfg, views)
        # φ: copied before any training step, so it is h_θ at its random init; never trained.
        self.content_net = copy.deepcopy(backbone).requires_grad_(False).eval() if cfg.content_weight > 0 else None
        skip_dim = full_resolution_channels(backbone, channels) if cfg.decoder_skip else 0
        self.head = PixelDecoder(backbone.dim, channels, cfg.decoder_width, skip_dim)  # k_γ: the image's channels
        if cfg.residual:  # start near the baseline x, with gradients still reaching h_θ (zero would stop them)
            with torch.no_grad():
                self.head.out.weight.mul_(RESIDUAL_INIT_SCALE)
                self.head.out.bias.zero_()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.content_net is not None:
            self.content_net.eval()  # fixed BN statistics: φ must not drift with the batches
        return self

    def pseudolabels(self, x, index=None):          # P
        z = self.views(x)
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
        with eval_mode(self) as device:
            x = sample.to(device).float() / 255
            inputs, prediction = self.super_resolve(x)
            rows = {"input": inputs, "prediction": prediction, "truth": x}
            save_image_rows(Path(run_dir) / "reconstructions.png", rows)


__all__ = ["SuperResolution", "SuperResolutionConfig", "content_loss", "degrade", "enlarge", "low_resolution"]
