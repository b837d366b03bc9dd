"""Pretext methods, one file each, registered by name (the file's name)."""

from ssrl.pretext.base import LARGE_IMAGE, OptimizerDefaults, Pretext
from ssrl.pretext.registry import METHODS, get_method, list_methods, method_config, register
from ssrl.pretext import (  # noqa: F401  (registers the built-in methods)
    amdim, arrow_of_time, barlow_twins, byol, clip_order, colorization, cpc, cycle_consistency, deepcluster, dino, inpainting, jigsaw, mae, masked_lm,
    moco_v2, moco_v3, next_token, nnclr, odd_one_out, relative_position, rotation, sentence_order, shuffle_and_learn,
    simclr, simsiam, span_corruption, split_brain, super_resolution, swav, synthetic_multitask, tracking, vicreg, video_colorization, word2vec, yadim,
)

__all__ = ["LARGE_IMAGE", "METHODS", "OptimizerDefaults", "Pretext", "get_method", "list_methods", "method_config", "register"]
