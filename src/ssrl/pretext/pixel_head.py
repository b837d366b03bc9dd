"""k_γ for per-pixel targets (colours, lightness, pixels): h_θ's last feature map → an image.

Backbones return pooled features (B, dim); a dense prediction from one vector would have to
squeeze the image's layout through it, so the head reads h_θ's last *spatial* feature map
instead (``feature_map``): the input of the backbone's global average pool (convnets, ResNets),
or the patch tokens laid out on their grid (ViTs). The decoder (``PixelDecoder``) upsamples it
to the requested size. It sees nothing but that map, no skip connection from the input, so
everything it predicts has to pass through h_θ.
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
    if hasattr(backbone, "tokens"):
        tokens = backbone.tokens(x)[:, 1:]  # (B, n, dim), CLS dropped
        gh, gw = x.shape[-2] // backbone.patch_size, x.shape[-1] // backbone.patch_size
        return tokens.transpose(1, 2).reshape(len(x), -1, gh, gw)
    pools = [m for m in backbone.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        return backbone(x)[:, :, None, None]
    caught = []
    handle = pools[-1].register_forward_hook(lambda module, args, out: caught.append(args[0]))
    try:
        backbone(x)
    finally:
        handle.remove()
    return caught[-1]


def _conv_bn_relu(a: int, b: int, kernel: int) -> nn.Sequential:
    conv = nn.Conv2d(a, b, kernel, padding=kernel // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(b), nn.ReLU(inplace=True))


class PixelDecoder(nn.Module):
    """Feature map (B, in_dim, h, w) → (B, out_channels, H, W) at any (H, W) asked for.

    A 1×1 conv to ``width`` channels, bilinear upsampling to half the output size and a 3×3
    conv, upsampling to the output size and a 3×3 conv to ``width // 2``, then a 1×1 conv to the
    outputs (logits or values, no activation). Fixed depth whatever the sizes, so it is built
    before the data are seen; two resolutions of 3×3 convs let it draw detail finer than h_θ's map.
    """

    def __init__(self, in_dim: int, out_channels: int, width: int = 64):
        super().__init__()
        self.reduce = _conv_bn_relu(in_dim, width, 1)
        self.at_half = _conv_bn_relu(width, width, 3)
        self.at_full = _conv_bn_relu(width, width // 2, 3)
        self.out = nn.Conv2d(width // 2, out_channels, 1)

    def forward(self, fmap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        y = self.reduce(fmap)
        y = self.at_half(F.interpolate(y, size=(max(1, h // 2), max(1, w // 2)), mode="bilinear", align_corners=False))
        y = self.at_full(F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False))
        return self.out(y)


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


__all__ = ["PixelDecoder", "eval_mode", "feature_map"]
