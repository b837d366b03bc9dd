"""k_γ for per-pixel targets (colours, lightness, pixels): h_θ's last feature map → an image.

Backbones return pooled features (B, dim); a dense prediction from one vector would have to
squeeze the image's layout through it, so the head reads h_θ's last *spatial* feature map
instead (``feature_map``): the input of the backbone's global average pool (convnets, ResNets),
or the patch tokens laid out on their grid (ViTs). The decoder (``PixelDecoder``) upsamples it
to the requested size. A decoder built with ``skip_dim`` also reads h_θ's deepest feature map
at the input's own resolution (``feature_maps``; for ``convnet-small`` its second block, before
the first max-pool), as a U-Net's decoder reads its encoder's early stages (Ronneberger et al.
2015, arXiv:1505.04597): fine detail need not squeeze through the coarse last map. Both maps
are h_θ's: there is no path from the input that bypasses h_θ, so everything the head predicts
still passes through h_θ's layers.
"""

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


def feature_map(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """h_θ's last spatial feature map (B, C, h, w) of x, through the backbone's own forward.

    ViTs (a ``tokens`` method): the patch tokens on their grid. Otherwise the input of the last
    ``nn.AdaptiveAvgPool2d`` in the backbone, caught by a hook that lives for this call only (a
    hook left on the module would travel with deep copies). A backbone with neither gives its
    pooled features as a 1×1 map."""
    return feature_maps(backbone, x, full_resolution=False)[0]


def feature_maps(backbone: nn.Module, x: torch.Tensor, full_resolution: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(``feature_map``'s last map, h_θ's deepest map at x's own height and width) from one
    forward pass. The second is the output of the last module to run whose output is 4-d at x's
    size (a convnet's last block before its first downsampling); None for ViTs, whose tokens
    start at patch resolution, and when ``full_resolution`` is False."""
    if hasattr(backbone, "tokens"):
        tokens = backbone.tokens(x)[:, 1:]  # (B, n, dim), CLS dropped
        gh, gw = x.shape[-2] // backbone.patch_size, x.shape[-1] // backbone.patch_size
        return tokens.transpose(1, 2).reshape(len(x), -1, gh, gw), None
    pools = [m for m in backbone.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    last, full = [], []

    def catch_full(module, args, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[-2:] == x.shape[-2:]:
            full.append(out)

    handles = [pools[-1].register_forward_hook(lambda module, args, out: last.append(args[0]))] if pools else []
    if full_resolution:
        handles += [m.register_forward_hook(catch_full) for m in backbone.modules() if not list(m.children())]
    try:
        pooled = backbone(x)
    finally:
        for handle in handles:
            handle.remove()
    return (last[-1] if last else pooled[:, :, None, None]), (full[-1] if full else None)


@torch.no_grad()
def full_resolution_channels(backbone: nn.Module, channels: int, size: int = 32) -> int:
    """Channels of ``feature_maps``' full-resolution map for ``channels``-channel images of
    ``size`` px (a ViT its own size), found by one forward pass of zeros in eval mode (no
    batch-norm statistics move); 0 where there is none."""
    size = getattr(backbone, "image_size", size)
    with eval_mode(backbone) as device:
        full = feature_maps(backbone, torch.zeros(2, channels, size, size, device=device))[1]
    return 0 if full is None else full.shape[1]


def _conv_bn_relu(a: int, b: int, kernel: int) -> nn.Sequential:
    conv = nn.Conv2d(a, b, kernel, padding=kernel // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(b), nn.ReLU(inplace=True))


class PixelDecoder(nn.Module):
    """Feature map (B, in_dim, h, w) → (B, out_channels, H, W) at any (H, W) asked for.

    A 1×1 conv to ``width`` channels, bilinear upsampling to half the output size and a 3×3
    conv, upsampling to the output size and a 3×3 conv to ``width // 2``, then a 1×1 conv to the
    outputs (logits or values, no activation). Fixed depth whatever the sizes, so it is built
    before the data are seen; two resolutions of 3×3 convs let it draw detail finer than h_θ's map.
    With ``skip_dim`` > 0 the full-resolution 3×3 conv also reads ``skip``, a (B, skip_dim, H', W')
    map of h_θ's (resized to the output size where it differs), concatenated to its input.
    """

    def __init__(self, in_dim: int, out_channels: int, width: int = 64, skip_dim: int = 0):
        super().__init__()
        self.skip_dim = skip_dim
        self.reduce = _conv_bn_relu(in_dim, width, 1)
        self.at_half = _conv_bn_relu(width, width, 3)
        self.at_full = _conv_bn_relu(width + skip_dim, width // 2, 3)
        self.out = nn.Conv2d(width // 2, out_channels, 1)

    def forward(self, fmap: torch.Tensor, size: tuple[int, int], skip: torch.Tensor | None = None) -> torch.Tensor:
        h, w = size
        y = self.reduce(fmap)
        y = self.at_half(F.interpolate(y, size=(max(1, h // 2), max(1, w // 2)), mode="bilinear", align_corners=False))
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        if self.skip_dim:
            if skip is None or skip.shape[1] != self.skip_dim:
                raise ValueError(f"PixelDecoder built for a {self.skip_dim}-channel skip map, got "
                                 f"{None if skip is None else skip.shape[1]}")
            if skip.shape[-2:] != (h, w):
                skip = F.interpolate(skip, size=(h, w), mode="bilinear", align_corners=False)
            y = torch.cat([y, skip], 1)
        return self.out(self.at_full(y))


@contextmanager
def eval_mode(module: nn.Module):
    """The module in eval mode (BN running statistics) inside the block, which gets its device;
    the mode it had is restored after (``save_artifacts`` runs after training)."""
    was_training = module.training
    module.eval()
    try:
        yield next(module.parameters()).device
    finally:
        module.train(was_training)


__all__ = ["PixelDecoder", "eval_mode", "feature_map", "feature_maps", "full_resolution_channels"]
