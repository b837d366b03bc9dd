"""Colorization. Zhang, Isola & Efros, 2016, "Colorful Image Colorization", arXiv:1603.08511.

P: an image's lightness L (CIE Lab, ``ssrl.pretext.lab``) is the input, its colour ab the
target z, at 1/``output_stride`` of the image side (ab averaged over each block; colour is
smooth, and the paper predicts at 1/4 resolution too). k_γ: ``PixelDecoder`` on h_θ's last
feature map, upsampling to the target size. L, chosen by ``loss``:

* ``classification`` (the paper): ab is cut into square bins of side ``grid`` = 10 and only
  the bins the sRGB gamut reaches are kept (``ab_bins``: 262 in our conversion; the paper's
  own gamut estimate keeps Q = 313); z is each target pixel's bin and L the cross-entropy over
  the bins, each pixel weighted by the class rebalancing of the paper (eq. 3–4):
  w ∝ ((1 − λ)·p̃ + λ/Q)^−1, normalised so that E_p̃[w] = Σ_q p̃_q w_q = 1, with p̃ the
  empirical distribution of the bins smoothed by a Gaussian of σ = 5 in ab and λ = 0.5. The
  empirical distribution is counted over D_s (up to ``PRIOR_IMAGES`` images evenly spread,
  no augmentation) in ``on_train_epoch_start`` at the first epoch, and checkpointed. Colours
  are read out as the paper's annealed mean of the predicted distribution (T = 0.38).
  Targets are hard (the nearest bin); the paper soft-encodes each pixel over its 5 nearest bins
  (σ = 5), which costs a distance to every bin per pixel.
* ``regression``: mean squared error on ab / 110 (the paper's baseline; it notes regression
  gives greyish, desaturated colours, as the mean of a multimodal colour distribution).

h_θ and colour data: the engine builds h_θ with the data's channel count and exports that
very module, which ``ssrl evaluate`` then feeds RGB images. So h_θ keeps its 3 input channels
and gets L as the sRGB grey of that lightness, R = G = B (``grey_rgb``), and its first conv's
weights are tied across R, G, B at the start (``tie_input_channels``): grey inputs give the
three identical gradients, so they stay tied and the exported backbone reads an RGB image as its
grey mean(R, G, B), as the paper evaluates its features on L alone. Grey (1-channel) data are
refused: there is no colour to predict.

Paper values (ImageNet, a VGG-style net at 256 px): Q = 313, grid 10, λ = 0.5, σ = 5, T = 0.38,
output at 1/4 resolution, Adam lr 3e-5, β2 0.99, weight decay 1e-3. Ours for small images:
output at 1/2 resolution (1/4 from 128 px up), the library's AdamW default (lr 1e-3 per 256
images), crops of 50–100% of the area and flips (no colour jitter: it would change the target).
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.image_grid import save_image_rows
from ssrl.errors import SsrlError
from ssrl.pretext.backbone_input import input_channels, tie_input_channels
from ssrl.pretext.base import Pretext
from ssrl.pretext.lab import AB_RANGE, grey_rgb, lab_to_rgb, rgb_to_lab, split_lab
from ssrl.pretext.pixel_head import PixelDecoder, eval_mode, feature_map
from ssrl.pretext.registry import register
from ssrl.views import ViewConfig

LOSSES = ("classification", "regression")
PRIOR_IMAGES = 20_000  # images of D_s counted for the empirical colour distribution


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


# ---- shared with split-brain: colour data, ab bins, rebalancing, losses --------------------


def require_colour(channels: int | None, method: str) -> None:
    """Refuse anything but RGB data with the user-facing error the colour tasks share."""
    if channels is not None and channels != 3:
        raise SsrlError(f"{method} predicts colour from lightness, so it needs colour (RGB) images; "
                        f"these images have {channels} channel{'s' if channels != 1 else ''} (grayscale)")


def require_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise SsrlError(f"{what} must be one of {', '.join(choices)}, got {value!r}")


@functools.lru_cache(maxsize=8)
def _gamut_cells(grid: float) -> torch.Tensor:
    # The ab image of the RGB cube is the image of its surface (each ab's set of RGB colours is a
    # curve, which ends on the surface), so the six faces on a 128-level grid suffice.
    v = torch.linspace(0, 1, 128, dtype=torch.float64)
    s, t = (u.flatten() for u in torch.meshgrid(v, v, indexing="ij"))
    zero, one = torch.zeros_like(s), torch.ones_like(s)
    faces = [(c, s, t) for c in (zero, one)] + [(s, c, t) for c in (zero, one)] + [(s, t, c) for c in (zero, one)]
    rgb = torch.cat([torch.stack(face) for face in faces], dim=1)[None, :, :, None]  # (1, 3, n, 1)
    ab = rgb_to_lab(rgb)[0, 1:, :, 0].T  # (n, 2)
    return torch.unique(torch.round(ab / grid), dim=0)


def ab_bins(grid: float = 10.0) -> torch.Tensor:
    """(Q, 2) centres, multiples of ``grid``, of the ab bins that sRGB colours fall in, sorted by
    a then b: the classes of colorization (Q = 262 for grid 10)."""
    return (_gamut_cells(float(grid)) * grid).float()


def quantize_ab(ab: torch.Tensor, bins: torch.Tensor, grid: float) -> torch.Tensor:
    """(B, 2, h, w) ab in Lab units → (B, h, w) index of the bin each pixel falls in.

    A pixel's grid cell is ab / grid rounded; a cell outside ``bins`` (an out-of-gamut colour)
    goes to the bin nearest the cell's centre, through a lookup table over all cells."""
    cells = torch.round(ab / grid).long()                        # (B, 2, h, w)
    k = int((bins.abs().max() / grid).round().item()) + 1         # cells -k..k cover the bins and a margin
    side = 2 * k + 1
    grid_ab = torch.stack(torch.meshgrid(torch.arange(-k, k + 1), torch.arange(-k, k + 1), indexing="ij"), -1)
    centres = grid_ab.reshape(-1, 2).to(bins) * grid               # (side², 2)
    table = torch.cdist(centres, bins).argmin(dim=1)                # nearest bin of every cell
    cells = cells.clamp(-k, k) + k
    return table.to(ab.device)[cells[:, 0] * side + cells[:, 1]]


def smooth_distribution(p: torch.Tensor, centres: torch.Tensor, sigma: float) -> torch.Tensor:
    """p̃: a distribution over bins (Q,) blurred by a Gaussian of ``sigma`` between bin centres
    (Q, D), renormalised; ``sigma`` = 0 leaves it as it is."""
    if sigma <= 0:
        return p / p.sum()
    kernel = torch.exp(-torch.cdist(centres, centres) ** 2 / (2 * sigma**2))
    smoothed = kernel @ p
    return smoothed / smoothed.sum()


def rebalancing_weights(p: torch.Tensor, centres: torch.Tensor, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Class weights (Q,) of Zhang et al. 2016, eq. 4: w ∝ ((1 − λ) p̃ + λ / Q)^−1 with p̃ the
    smoothed empirical distribution, scaled so that Σ_q p̃_q w_q = 1."""
    smoothed = smooth_distribution(p.double(), centres.double(), sigma)
    w = 1 / ((1 - lam) * smoothed + lam / len(p))
    return (w / (smoothed * w).sum()).to(p.dtype)


def weighted_cross_entropy(logits: torch.Tensor, z: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over pixels of w(z) · CE: logits (B, Q, h, w), z (B, h, w), weights (Q,) or None.

    The mean over pixels, not F.cross_entropy's division by the summed weights, as the paper
    (eq. 2) weights each pixel's term and sums: with E[w] = 1 its scale is the plain CE's."""
    ce = F.cross_entropy(logits, z, reduction="none")
    return ce.mean() if weights is None else (weights[z] * ce).mean()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits (B, Q, h, w) over bins with centres (Q, D) → (B, D, h, w): the mean of the
    distribution re-sharpened to temperature T, softmax(log p / T) (the paper's eq. 5). T = 1 is
    the plain mean (desaturated), T → 0 the mode (vivid but patchy)."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qd->bdhw", p, centres.to(p))


def target_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The side of the predicted maps: the image side / ``stride``, at least 1."""
    return max(1, size[0] // stride), max(1, size[1] // stride)


def downsample(x: torch.Tensor, stride: int) -> torch.Tensor:
    """x averaged over stride × stride blocks (area interpolation: block means)."""
    size = target_size(tuple(x.shape[-2:]), stride)
    return x if size == tuple(x.shape[-2:]) else F.interpolate(x, size=size, mode="area")


@torch.no_grad()
def ab_histogram(images: torch.Tensor, bins: torch.Tensor, grid: float, stride: int,
                 max_images: int = PRIOR_IMAGES, chunk: int = 512) -> torch.Tensor:
    """Counts (Q,) of the bins of the ab targets of uint8 RGB images (N, 3, H, W), computed as P
    computes them (ab averaged over stride × stride blocks), on at most ``max_images`` images
    evenly spread over the set."""
    images = images[::max(1, -(-len(images) // max_images))]
    counts = torch.zeros(len(bins), dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].float() / 255
        z = quantize_ab(downsample(split_lab(x)[1], stride), bins.cpu(), grid)
        counts += torch.bincount(z.flatten(), minlength=len(bins)).double()
    return counts


# ---- the method -------------------------------------------------------------------------


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
        require_choice(cfg.loss, LOSSES, "colorization loss")
        super().__init__(self.wrap_backbone(backbone), cfg, views)
        self.register_buffer("bins", ab_bins(cfg.grid))  # (Q, 2)
        q = len(self.bins)
        self.register_buffer("ab_prior", torch.zeros(q))    # empirical distribution over D_s; 0 = not counted yet
        self.register_buffer("class_weights", torch.ones(q))
        self.head = PixelDecoder(backbone.dim, q if cfg.loss == "classification" else 2, cfg.decoder_width)  # k_γ

    @property
    def classification(self) -> bool:
        return self.cfg.loss == "classification"

    def on_train_epoch_start(self, epoch, images, labels):
        require_colour(images.shape[1], self.name)
        if not self.classification or self.ab_prior.sum() > 0:  # counted once, then checkpointed
            return None
        counts = ab_histogram(images, self.bins, self.cfg.grid, self.cfg.output_stride)
        prior = counts / counts.sum()
        self.ab_prior.copy_(prior)
        if self.cfg.rebalance:
            self.class_weights.copy_(rebalancing_weights(prior, self.bins.cpu().double(),
                                                         self.cfg.rebalance_lambda, self.cfg.rebalance_sigma))
        return {"colour_bins_used": float((counts > 0).sum())}

    def pseudolabels(self, x, index=None):          # P
        require_colour(x.shape[1], self.name)
        l, ab = split_lab(self.views(x))
        ab = downsample(ab, self.cfg.output_stride)
        z = quantize_ab(ab, self.bins, self.cfg.grid) if self.classification else ab / AB_RANGE
        return grey_rgb(l), z

    def loss(self, inputs, z):                          # L
        out = self.head(feature_map(self.backbone, inputs), tuple(z.shape[-2:]))
        if not self.classification:
            return F.mse_loss(out, z), {}
        loss = weighted_cross_entropy(out, z, self.class_weights if self.cfg.rebalance else None)
        return loss, {"pretext_acc": (out.argmax(1) == z).float().mean()}

    @torch.no_grad()
    def colorize(self, x: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Predicted ab (B, 2, H, W) in Lab units of RGB images x (B, 3, H, W) in [0, 1], from
        their L alone; classification reads colours out as the annealed mean (``temperature``,
        default the config's)."""
        l, _ = split_lab(x)
        size = target_size(tuple(x.shape[-2:]), self.cfg.output_stride)
        out = self.head(feature_map(self.backbone, grey_rgb(l)), size)
        t = self.cfg.temperature if temperature is None else temperature
        ab = annealed_mean(out, self.bins, t) if self.classification else out * AB_RANGE
        return F.interpolate(ab, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)

    def save_artifacts(self, run_dir: Path, sample: torch.Tensor) -> None:
        """``reconstructions.png``: rows input (L as grey), prediction (L + predicted ab), truth."""
        with eval_mode(self) as device:
            x = sample.to(device).float() / 255
            l, _ = split_lab(x)
            prediction = lab_to_rgb(torch.cat([l, self.colorize(x)], dim=1))
            save_image_rows(Path(run_dir) / "reconstructions.png",
                            {"input": grey_rgb(l), "prediction": prediction, "truth": x})


__all__ = ["Colorization", "ColorizationConfig", "ab_bins", "ab_histogram", "annealed_mean", "quantize_ab",
           "rebalancing_weights", "require_colour", "smooth_distribution", "weighted_cross_entropy"]
