"""Batch-norm statistics of whole images for a backbone pretrained on parts of images.

Patch-based pretext tasks (relative position, jigsaw) train h_θ on small patches, so the running
means and variances of its batch-norm layers describe patches; downstream it sees whole
images, whose activations at every layer have other statistics. Recomputing them on whole,
unaugmented images of D_s (no labels, no gradient) fixes the mismatch: on Fashion-MNIST it lifts
relative position's kNN and linear probe (BENCHMARKS.md, "Issue 4", the relative position
item). This is the "precise BN" step of Wu & Johnson 2021, "Rethinking 'Batch' in
BatchNorm", arXiv:2105.07576, applied across the change of input.
"""

import torch
from torch import nn

from ssrl.data.source import to_unit


@torch.no_grad()
def recompute_batch_norm(backbone: nn.Module, images: torch.Tensor, max_images: int = 10_240,
                         batch_size: int = 256, seed: int = 0) -> int:
    """Replace every batch-norm layer's running statistics by the exact averages over at most
    ``max_images`` images (N, C, H, W) uint8 drawn with ``seed``; returns how many layers changed.
    The backbone's train/eval mode and each layer's momentum are restored after."""
    layers = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return 0
    device = next(backbone.parameters()).device
    picked = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:max_images]
    momenta = [m.momentum for m in layers]
    was_training = backbone.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    backbone.train()
    for start in range(0, len(picked), batch_size):
        backbone(to_unit(images[picked[start:start + batch_size]].to(device)))
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    backbone.train(was_training)
    return len(layers)
