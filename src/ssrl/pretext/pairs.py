"""Views of every image, the shared P of the joint-embedding methods: two views, or multi-crop."""

from dataclasses import replace

import torch
from torch import nn

from ssrl.views import Views


def two_views(views: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent random views T(x) of each image of x (B, C, H, W).

    Returns inputs (2B, C, S, S), view 1 of every image then view 2, and z (2B,): row k
    shows image z[k], so the two views of image i are rows i and B + i.
    """
    inputs = torch.cat([views(x), views(x)])
    z = torch.arange(len(x), device=x.device).repeat(2)
    return inputs, z


def local_views(views: Views, size: int, scale: tuple[float, float]) -> Views:
    """Multi-crop's small views (Caron et al. 2020, arXiv:2006.09882, §3.3): the augmentations
    of ``views``, but crops of ``scale`` of the image area resized to ``size`` pixels."""
    return Views(replace(views.cfg, size=size, crop_scale=scale))


def multi_crop(views: nn.Module, local: nn.Module, x: torch.Tensor, n_local: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two global views (2B, C, S, S) made by ``views`` and ``n_local`` small ones (n_local·B,
    C, s, s) made by ``local``, in the same order as ``two_views``: all images' view 1, then
    view 2, and so on. The two sizes differ, so they come back as two batches."""
    small = torch.cat([local(x) for _ in range(n_local)]) if n_local else x.new_empty(0, x.shape[1], 1, 1)
    return two_views(views, x)[0], small


def multi_crop_pseudolabels(views: Views, backbone: nn.Module, x: torch.Tensor, n_local: int,
                            local_size: int, local_scale: tuple[float, float]):
    """P of the multi-crop methods (SwAV, DINO): ((global (2B, C, S, S), small (n_local·B, C, s,
    s)), z) with z the image of every view, global then small. ``local_size`` 0 takes 96/224 of
    the global side (the papers' 96 px of 224), rounded to whole patches of a ViT backbone."""
    if not local_size:
        patch = getattr(backbone, "patch_size", 1)
        side = views.cfg.size or min(x.shape[-2:])
        local_size = patch * max(1, round(side * 96 / 224 / patch))
    global_views, small = multi_crop(views, local_views(views, local_size, local_scale), x, n_local)
    z = torch.arange(len(x), device=x.device).repeat(2 + n_local)
    return (global_views, small), z
