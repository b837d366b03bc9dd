"""A discriminator D trained in the same optimizer step as the generator it judges.

Goodfellow et al. 2014 (arXiv:1406.2661) train D and the generator in alternating steps, each
with its own optimizer. The engine has one optimizer over all parameters, so here D's own
objective, −log D(real) − log(1 − D(fake)), is a second term of the method's loss, and the two
terms are kept apart by where their gradients can go (``adversarial_terms``): D's term sees the
fake detached (it trains D only), and the generator's term −log D(fake) sees D through a
detached copy of its weights (it trains the generator only, never D). Both then take one
simultaneous step from the same weights, at one lr and weight decay. Adam's per-parameter
normalisation means that weighting D's term would not change the size of its step, so it gets
weight 1; the generator's term is weighted by the method (the context encoder's λ_adv).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


def discriminator(channels: int, width: int = 32) -> nn.Sequential:
    """D: image (B, C, H ≥ 4, W ≥ 4) → logit (B, 1), whatever the image size: two stride-2
    convolutions (``width``, 2 × ``width`` wide, leaky ReLU 0.2) and a linear layer, without
    batch norm so that real and fake images share no statistics."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1),
    )


def feature_discriminator(channels: int, width: int = 64) -> nn.Sequential:
    """D on feature maps: (B, C, h, w) of any size, 1 × 1 included → logit (B, 1): two 3 × 3
    convolutions (``width`` wide, padding 1, leaky ReLU 0.2), a global average pool and a linear
    layer; no batch norm, for the same reason as ``discriminator``."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1),
    )


def adversarial_terms(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's term −log D(fake), through a detached copy of D's weights (no gradient
    reaches D), and D's term −log D(real) − log(1 − D(fake)) on the detached fake (no gradient
    reaches the generator). D returns logits (B, 1)."""
    frozen = {name: p.detach() for name, p in disc.named_parameters()}
    fake_logits = functional_call(disc, frozen, (fake,))
    gen = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    real_logits, detached_logits = disc(real), disc(fake.detach())
    d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
         + F.binary_cross_entropy_with_logits(detached_logits, torch.zeros_like(detached_logits)))
    return gen, d


__all__ = ["adversarial_terms", "discriminator", "feature_discriminator"]
