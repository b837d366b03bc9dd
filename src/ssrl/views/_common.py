"""Shared helpers for the batched view ops: input checks and per-sample random draws.

Every draw uses the global torch generator of ``x.device`` (``torch.rand(..., device=...)``),
so ``torch.manual_seed`` makes a run repeatable on CPU and CUDA alike. Parameters are drawn
in float32 whatever the image dtype, so bf16/fp16 images still get full-precision boxes,
angles and factors.
"""

import torch


def check_images(x: torch.Tensor, op: str, channels: tuple[int, ...] | None = None) -> None:
    """Raise ValueError unless ``x`` is a floating (B, C, H, W) batch (with C in ``channels``)."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{op}: expected a floating-point batch in [0, 1], got {x.dtype}")
    if channels is not None and x.shape[1] not in channels:
        raise ValueError(f"{op}: expected {' or '.join(map(str, channels))} channels, got {x.shape[1]}")


def uniform(lo: float, hi: float, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Float32 samples from U[lo, hi] of ``shape``; exactly ``lo`` everywhere when lo == hi."""
    return lo + (hi - lo) * torch.rand(shape, device=device)


def coin(p: float, n: int, device: torch.device) -> torch.Tensor:
    """(n,) bool: each sample's own Bernoulli(p) draw (which samples an op applies to)."""
    return torch.rand(n, device=device) < p


def per_sample(t: torch.Tensor) -> torch.Tensor:
    """(B,) or (B, k) -> (B, 1, 1, 1) / (B, k, 1, 1): broadcastable against a (B, C, H, W) batch."""
    return t.view(t.shape[0], -1, 1, 1)
