"""Frozen features h_θ(x) of a whole data set, computed once and reused by every protocol.

``as_input`` is the one place where stored rows become a backbone's input: every protocol
(frozen features, fine-tuning, training from scratch) goes through it.
"""

import torch
from torch import nn
from tqdm.auto import tqdm

from ssrl.data.tokenize import token_lengths
from ssrl.data.source import to_unit


def as_input(batch: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """Stored rows as the backbone's input on ``device``: uint8 images (B, C, H, W) become float32
    in [0, 1]; anything else (token ids (B, T), float features) passes through unchanged."""
    batch = batch.to(device) if device is not None else batch
    if batch.dtype == torch.uint8:
        return to_unit(batch)
    return batch


@torch.no_grad()
def extract_features(backbone: nn.Module, images: torch.Tensor, batch_size: int = 512,
                     device: str | torch.device | None = None, progress: bool = False) -> torch.Tensor:
    """Features (N, dim) float32 on the CPU of stored rows (uint8 images (N, C, H, W), or token
    ids), in eval mode (BN running statistics, no augmentation). The backbone's train/eval mode
    is restored after."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    was_training = backbone.training
    backbone.eval().to(device)
    order = length_order(images)
    out = []
    for chunk in tqdm(order.split(batch_size), desc="features", disable=not progress, leave=False):
        out.append(backbone(as_input(images[chunk], device)).float().cpu())
    backbone.train(was_training)
    return torch.cat(out)[torch.argsort(order)]


def length_order(rows: torch.Tensor) -> torch.Tensor:
    """The order in which to batch stored rows: token ids (N, T), padded at the end, by
    length, so that each batch is cut to its own longest document (a text backbone drops
    all-padding columns) rather than mostly padding; anything else in storage order."""
    lengths = token_lengths(rows)
    return torch.arange(len(rows)) if lengths is None else torch.argsort(lengths, stable=True)
