"""The view pipeline T: a config of augmentation strengths and the module that applies it."""

from dataclasses import dataclass

import torch
from torch import nn

from ssrl.errors import SsrlError
from ssrl.views._common import check_images
from ssrl.views.blur import gaussian_blur
from ssrl.views.color import color_jitter, random_grayscale, solarize
from ssrl.views.crop import random_resized_crop


@dataclass
class ViewConfig:
    """Strengths and probabilities of each augmentation; defaults are SimCLR's small-image views."""

    size: int | None = None  # output side S; None: the input's min(H, W) (a non-square input is cut square)
    crop_scale: tuple[float, float] = (0.2, 1.0)  # box area fraction; SimCLR's 0.08 is ~9 px of a 32 px image
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # box aspect w/h, log-uniform (Inception / SimCLR)
    hflip: float = 0.5  # probability of a left-right flip
    jitter: float = 0.8  # probability of colour jitter (SimCLR)
    brightness: float = 0.4  # SimCLR colour distortion 0.8 s, 0.8 s, 0.8 s, 0.2 s at s = 0.5
    contrast: float = 0.4
    saturation: float = 0.4  # ignored for 1-channel input
    hue: float = 0.1  # ignored for 1-channel input; fraction of a full turn, at most 0.5
    grayscale: float = 0.2  # probability; ignored for 1-channel input (SimCLR)
    blur: float = 0.0  # probability of Gaussian blur; SimCLR drops it for CIFAR's 32 px images
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # SimCLR's range
    solarize: float = 0.0  # probability (threshold 0.5); BYOL's second view uses 0.2

    def __post_init__(self):
        for name in ("hflip", "jitter", "grayscale", "blur", "solarize"):
            _set_number(self, name, 0.0, 1.0, "a probability")
        for name in ("brightness", "contrast", "saturation"):
            _set_number(self, name, 0.0, float("inf"), "a jitter strength")
        _set_number(self, "hue", 0.0, 0.5, "a fraction of a turn")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 1):
            raise SsrlError(f"views.size must be a positive number of pixels, got {self.size!r}")
        _set_range(self, "crop_scale", upper=1.0)
        _set_range(self, "crop_ratio")
        _set_range(self, "blur_sigma")

    @classmethod
    def simclr(cls, size: int | None = None) -> "ViewConfig":
        """SimCLR's views (Chen et al. 2020, arXiv:2002.05709) as our small-image protocol runs them.

        The paper's ImageNet recipe crops 0.08-1 of the area and blurs half the views; on 28-32
        px images we crop 0.2-1 and do not blur (the paper drops blur for CIFAR-10 too).
        """
        return cls(size=size)

    @classmethod
    def geometric(cls, crop_scale: tuple[float, float], hflip: float = 0.5) -> "ViewConfig":
        """Crops of ``crop_scale`` of the area and flips, colours untouched: the views of the
        methods whose target is the image itself (rotation, patches, pixels)."""
        return cls(crop_scale=crop_scale, hflip=hflip, jitter=0.0, grayscale=0.0)

    @classmethod
    def none(cls, size: int | None = None) -> "ViewConfig":
        """The identity: no crop, no flip, no colour change (``Views`` returns its input)."""
        return cls(
            size=size, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=0.0, jitter=0.0,
            grayscale=0.0, blur=0.0, solarize=0.0,
        )


def _set_number(cfg: ViewConfig, name: str, low: float, high: float, what: str) -> None:
    value = getattr(cfg, name)
    try:
        ok = low <= float(value) <= high
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SsrlError(f"views.{name} is {what} in [{low}, {high}], got {value!r}")
    setattr(cfg, name, float(value))


def _set_range(cfg: ViewConfig, name: str, upper: float = float("inf")) -> None:
    """Check that field ``name`` is (low, high) with 0 < low <= high <= upper; store it as floats."""
    value = getattr(cfg, name)
    try:
        low, high = (float(v) for v in value)
        ok = 0 < low <= high <= upper
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SsrlError(f"views.{name} must be (low, high) with 0 < low <= high <= {upper}, got {value!r}")
    setattr(cfg, name, (low, high))


class Views(nn.Module):
    """T: (B, C, H, W) float batch in [0, 1] -> (B, C, S, S) views, each sample drawn independently.

    SimCLR's order: random resized crop + flip, colour jitter, grayscale, blur; then
    solarization (BYOL). Everything runs as batched ops on ``x``'s device and draws from that
    device's global torch generator, so ``torch.manual_seed`` repeats a run. Calling it twice
    on one batch gives two independent views (the positive pair of joint-embedding methods).
    A module with no parameters only so it prints and moves with the method holding it.
    """

    def __init__(self, cfg: ViewConfig | None = None):
        super().__init__()
        self.cfg = cfg if cfg is not None else ViewConfig()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, "Views", channels=(1, 3))
        cfg = self.cfg
        size = cfg.size if cfg.size is not None else min(x.shape[-2:])
        x = random_resized_crop(x, size, cfg.crop_scale, cfg.crop_ratio, cfg.hflip)  # (B, C, S, S)
        x = color_jitter(x, cfg.jitter, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
        x = random_grayscale(x, cfg.grayscale)
        x = gaussian_blur(x, cfg.blur, cfg.blur_sigma)
        return solarize(x, cfg.solarize)

    def extra_repr(self) -> str:
        return repr(self.cfg)
