"""Split-brain autoencoder. Zhang, Isola & Efros, 2017, "Split-Brain Autoencoders: Unsupervised
Learning by Cross-Channel Prediction", arXiv:1611.09842.

h_θ is two disjoint sub-networks over the Lab channels of the image (``ssrl.pretext.lab``):
F_L sees lightness L and predicts the colour ab, F_ab sees ab and predicts L; the representation
is the concatenation [F_L(L), F_ab(ab)]. P: from an RGB batch, the two halves' inputs and their
cross-channel targets z = (ab, L), averaged over ``output_stride`` blocks as in colorization.
k_γ: one ``PixelDecoder`` per direction on its sub-network's last feature map. L: the sum of the
two directions' losses, each either ``classification`` (the paper's best: ab over colorization's
gamut bins, L over ``l_bins`` uniform bins of [0, 100]; cross-entropy, the ab direction optionally
with colorization's class rebalancing) or ``regression`` (mean squared error on ab / 110 and
L / 100). The bins, the rebalancing and the losses are colorization's functions.

``SplitBrainBackbone`` is the h_θ this method trains: it takes RGB images in [0, 1] like every
backbone, converts them to Lab inside and returns the concatenated features (``dim`` is the sum).
It is built from the backbone the engine made for the (3-channel) data: F_L *is* that module,
fed L as the RGB grey of that lightness with its input weights tied across R, G, B (as in
colorization, so on its own it is an RGB backbone too), and F_ab is a deep copy whose first conv
takes the 2 ab channels (scaled to about [−1, 1]), its weights those of the copy's first two
input channels. Both halves thus start from the seeded backbone, so the whole is a function of
the run's seed (``SplitBrainBackbone.from_backbone``). Grey (1-channel) data are refused.

Export: ``ssrl.api.pretrain`` saves the module ``ssrl.runs.init_backbone`` built, and
``load_backbone`` rebuilds that plain backbone, so today a run exports F_L alone (trained, and
an RGB backbone thanks to the tied weights), not the concatenation. For the whole h_θ to be
saved and rebuilt, ``init_backbone`` has to pass the built backbone through the method's
``wrap_backbone`` (this class's returns the ``SplitBrainBackbone``; ``__init__`` accepts one);
``save_backbone``, ``load_backbone`` and the random-init floor then all see the wrapper.

Paper values (ImageNet, AlexNet cut into two half-width stacks): ab on the grid-10 gamut bins
(Q = 313), L in 50 bins, classification in both directions. Ours: two full-width copies of the
chosen backbone (so ``dim`` doubles), no rebalancing by default, output at 1/2 resolution (1/4
from 128 px up), crop + flip views, the library's AdamW default.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.image_grid import save_image_rows
from ssrl.pretext.backbone_input import input_channels, tie_input_channels, with_input_channels
from ssrl.pretext.base import Pretext
from ssrl.pretext.colorization import (LOSSES, ab_bins, ab_histogram, annealed_mean, downsample, quantize_ab,
                                       rebalancing_weights, require_choice, require_colour, target_size,
                                       weighted_cross_entropy)
from ssrl.pretext.lab import AB_RANGE, L_RANGE, grey_rgb, lab_to_rgb, split_lab
from ssrl.pretext.pixel_head import PixelDecoder, eval_mode, feature_map
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

NEUTRAL_L = 50.0  # the lightness the ab input is drawn at in reconstructions.png


@dataclass
class SplitBrainConfig:
    loss: str = "classification"   # both directions: classification (the paper) | regression (L2)
    grid: float = 10.0             # side of the ab bins (the paper)
    l_bins: int = 50               # uniform bins of L in [0, 100] (the paper)
    rebalance: bool = False        # colorization's class rebalancing of the ab direction
    rebalance_lambda: float = 0.5
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


class SplitBrainBackbone(nn.Module):
    """h_θ = [F_L(L), F_ab(ab)] of an RGB image (B, 3, H, W) in [0, 1] → (B, dim_L + dim_ab)."""

    def __init__(self, l_net: nn.Module, ab_net: nn.Module):
        super().__init__()
        self.l_net, self.ab_net = l_net, ab_net  # F_L: 3 channels (grey RGB), F_ab: 2 channels
        self.dim = l_net.dim + ab_net.dim

    @classmethod
    def from_backbone(cls, backbone: nn.Module) -> "SplitBrainBackbone":
        """Both halves from one backbone built for RGB: F_ab a copy taking ab, F_L the backbone
        itself with its input weights tied (in place)."""
        ab_net = with_input_channels(backbone, 2)
        return cls(tie_input_channels(backbone), ab_net)

    @staticmethod
    def inputs(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The halves' inputs: (L as grey RGB (B, 3, H, W), ab / 110 (B, 2, H, W))."""
        require_colour(rgb.shape[1], "split_brain")
        l, ab = split_lab(rgb)
        return grey_rgb(l), ab / AB_RANGE

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        grey, ab = self.inputs(rgb)
        return torch.cat([self.l_net(grey), self.ab_net(ab)], dim=1)


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
        require_choice(cfg.loss, LOSSES, "split_brain loss")
        super().__init__(self.wrap_backbone(backbone), cfg, views)
        self.register_buffer("bins", ab_bins(cfg.grid))               # (Q, 2)
        self.register_buffer("l_centres", l_bin_centres(cfg.l_bins))  # (l_bins, 1)
        self.register_buffer("ab_prior", torch.zeros(len(self.bins)))
        self.register_buffer("class_weights", torch.ones(len(self.bins)))
        cls_ = cfg.loss == "classification"
        self.head = nn.ModuleDict({  # k_γ, one decoder per direction
            "ab": PixelDecoder(self.backbone.l_net.dim, len(self.bins) if cls_ else 2, cfg.decoder_width),
            "l": PixelDecoder(self.backbone.ab_net.dim, cfg.l_bins if cls_ else 1, cfg.decoder_width),
        })

    @property
    def classification(self) -> bool:
        return self.cfg.loss == "classification"

    def on_train_epoch_start(self, epoch, images, labels):
        require_colour(images.shape[1], self.name)
        if not (self.classification and self.cfg.rebalance) or self.ab_prior.sum() > 0:
            return None
        counts = ab_histogram(images, self.bins, self.cfg.grid, self.cfg.output_stride)
        self.ab_prior.copy_(counts / counts.sum())
        self.class_weights.copy_(rebalancing_weights(self.ab_prior.cpu(), self.bins.cpu(),
                                                     self.cfg.rebalance_lambda, self.cfg.rebalance_sigma))
        return {"colour_bins_used": float((counts > 0).sum())}

    def targets(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = (ab target, L target) at 1/stride resolution: bin indices or scaled values."""
        l, ab = (downsample(t, self.cfg.output_stride) for t in split_lab(rgb))
        if self.classification:
            return quantize_ab(ab, self.bins, self.cfg.grid), quantize_l(l, self.cfg.l_bins)
        return ab / AB_RANGE, l / L_RANGE

    def pseudolabels(self, x, index=None):          # P
        x = self.views(x)
        return self.backbone.inputs(x), self.targets(x)

    def predict(self, inputs: tuple[torch.Tensor, torch.Tensor],
                size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """k_γ(h_θ) of each half at ``size``: (ab logits or values, L logits or values)."""
        grey, ab = inputs
        return (self.head["ab"](feature_map(self.backbone.l_net, grey), size),
                self.head["l"](feature_map(self.backbone.ab_net, ab), size))

    def loss(self, inputs, z):                          # L
        z_ab, z_l = z
        out_ab, out_l = self.predict(inputs, tuple(z_ab.shape[-2:]))
        if not self.classification:
            loss_ab, loss_l = F.mse_loss(out_ab, z_ab), F.mse_loss(out_l, z_l)
            return loss_ab + loss_l, {"loss_ab": loss_ab.detach(), "loss_l": loss_l.detach()}
        loss_ab = weighted_cross_entropy(out_ab, z_ab, self.class_weights if self.cfg.rebalance else None)
        loss_l = weighted_cross_entropy(out_l, z_l)
        return loss_ab + loss_l, {"loss_ab": loss_ab.detach(), "loss_l": loss_l.detach(),
                                  "pretext_acc_ab": (out_ab.argmax(1) == z_ab).float().mean(),
                                  "pretext_acc_l": (out_l.argmax(1) == z_l).float().mean()}

    @torch.no_grad()
    def cross_predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ab predicted from L (B, 2, H, W), L predicted from ab (B, 1, H, W)), Lab units, of RGB
        images x in [0, 1]; classes read out as the annealed mean (ab) and the mean (L)."""
        size = tuple(x.shape[-2:])
        out_ab, out_l = self.predict(self.backbone.inputs(x), target_size(size, self.cfg.output_stride))
        if self.classification:
            ab, l = annealed_mean(out_ab, self.bins, self.cfg.temperature), annealed_mean(out_l, self.l_centres, 1.0)
        else:
            ab, l = out_ab * AB_RANGE, out_l * L_RANGE
        up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=False)  # noqa: E731
        return up(ab), up(l)

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png``: rows L input, ab input (drawn at L = 50), ab predicted from L,
        L predicted from ab, truth."""
        with eval_mode(self) as device:
            x = sample.to(device).float() / 255
            l, ab = split_lab(x)
            ab_from_l, l_from_ab = self.cross_predict(x)
            rows = {"input L": grey_rgb(l),
                    "input ab": lab_to_rgb(torch.cat([torch.full_like(l, NEUTRAL_L), ab], dim=1)),
                    "ab from L": lab_to_rgb(torch.cat([l, ab_from_l], dim=1)),
                    "L from ab": lab_to_rgb(torch.cat([l_from_ab, ab], dim=1)),
                    "truth": x}
            save_image_rows(Path(run_dir) / "reconstructions.png", rows)


__all__ = ["SplitBrain", "SplitBrainBackbone", "SplitBrainConfig", "l_bin_centres", "quantize_l"]
