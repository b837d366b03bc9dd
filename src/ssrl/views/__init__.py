"""Views (T): batched per-sample random augmentations that run on the training device.

``Views(ViewConfig.simclr())(x)`` maps a (B, C, H, W) float batch in [0, 1] to (B, C, S, S)
views with every sample's parameters drawn independently, by batched tensor ops (no loop over
samples). The single ops are exported for methods that build their own pipelines.
"""

from ssrl.views.blur import gaussian_blur
from ssrl.views.color import color_jitter, grayscale, random_grayscale, solarize
from ssrl.views.crop import random_resized_crop, sample_boxes
from ssrl.views.pipeline import ViewConfig, Views

__all__ = [
    "ViewConfig",
    "Views",
    "color_jitter",
    "gaussian_blur",
    "grayscale",
    "random_grayscale",
    "random_resized_crop",
    "sample_boxes",
    "solarize",
]
