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
still passes through h_θ's layers. ``PooledDecoder`` is the other kind of k_γ, from the pooled
feature alone (the context encoder's: the whole image through h_θ's bottleneck).

Also the pixel tasks' shared plumbing: targets at 1/stride of the image side (``target_size``,
``block_means``), predictions brought back to the image's size (``resize``), and the
``reconstructions.png`` every pixel task writes after training (``save_reconstructions``).
"""

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.components.image_grid import save_image_rows
from ssrl.data.source import to_unit


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
        y = self.at_half(resize(y, (max(1, h // 2), max(1, w // 2))))
        y = resize(y, (h, w))
        if self.skip_dim:
            if skip is None or skip.shape[1] != self.skip_dim:
                raise ValueError(f"PixelDecoder built for a {self.skip_dim}-channel skip map, got "
                                 f"{None if skip is None else skip.shape[1]}")
            if skip.shape[-2:] != (h, w):
                skip = resize(skip, (h, w))
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


class PooledDecoder(nn.Module):
    """Pooled feature (B, dim) → image (B, C, H, W) in [0, 1]: a linear map to a ``width`` × 4 × 4
    map, ``stages`` transposed convolutions that each double its side and halve its width (at
    least 16), a resize to (H, W) and a 3×3 conv to the C channels through a sigmoid."""

    def __init__(self, dim: int, channels: int, width: int, stages: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(dim, width * 16, bias=False), nn.Unflatten(1, (width, 4, 4)),
                                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        c = width
        for _ in range(stages):
            out = max(c // 2, 16)
            layers += [nn.ConvTranspose2d(c, out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            c = out
        self.up = nn.Sequential(*layers)
        self.out = nn.Conv2d(c, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return torch.sigmoid(self.out(resize(self.up(h), size)))


def target_size(size: Sequence[int], stride: int) -> tuple[int, int]:
    """The side of a map at 1/``stride`` of an image of ``size`` (H, W): H // stride, W // stride, at least 1."""
    return max(1, size[0] // stride), max(1, size[1] // stride)


def block_means(x: torch.Tensor, stride: int) -> torch.Tensor:
    """x (B, C, H, W) averaged over stride × stride blocks (area interpolation), at ``target_size``."""
    size = target_size(x.shape[-2:], stride)
    return x if size == tuple(x.shape[-2:]) else F.interpolate(x, size=size, mode="area")


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """x (B, C, h, w) bilinearly resized to ``size`` (H, W)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


@torch.no_grad()
def save_reconstructions(method: nn.Module, run_dir: Path, sample: torch.Tensor,
                         rows: Callable[[torch.Tensor], dict[str, torch.Tensor]], max_images: int = 8) -> Path:
    """``run_dir/reconstructions.png`` (``save_image_rows``) of the first ``max_images`` of
    ``sample`` (uint8 (N, C, H, W), as ``save_artifacts`` gets it): ``rows`` maps those images,
    in [0, 1] on the method's device, to the picture's rows, name → (n, C, H, W) in [0, 1]. It runs
    with the method in eval mode (batch norm's running statistics, which it leaves as they were)."""
    with eval_mode(method) as device:
        x = to_unit(sample[:max_images]).to(device)
        return save_image_rows(Path(run_dir) / "reconstructions.png", rows(x), max_images)


__all__ = ["PixelDecoder", "PooledDecoder", "block_means", "eval_mode", "feature_map", "feature_maps",
           "full_resolution_channels", "resize", "save_reconstructions", "target_size"]
