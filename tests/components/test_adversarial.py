"""The discriminators and their two loss terms: D takes any image size (and feature maps down to
1 × 1), the terms have their closed form when D cannot tell real from fake, and each term's
gradient reaches only its own side."""

import math

import pytest
import torch
from torch import nn

from ssrl.components.adversarial import adversarial_terms, discriminator, feature_discriminator


@pytest.mark.parametrize("channels, size", [(1, 4), (3, 16), (3, 28)])
def test_discriminator_gives_one_logit_per_image(channels, size):
    assert discriminator(channels)(torch.rand(5, channels, size, size)).shape == (5, 1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator(channels).modules())


@pytest.mark.parametrize("channels, size", [(128, 1), (64, 3), (8, 7)])
def test_feature_discriminator_gives_one_logit_per_map_down_to_1x1(channels, size):
    d = feature_discriminator(channels, width=16)
    assert d(torch.rand(5, channels, size, size)).shape == (5, 1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())


def test_terms_when_d_cannot_tell_real_from_fake():
    d = discriminator(3)
    with torch.no_grad():
        for p in d.parameters():
            p.zero_()  # every logit 0: D(x) = 1/2
    gen, own = adversarial_terms(d, torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8))
    assert math.isclose(gen.item(), math.log(2), rel_tol=1e-6)      # −log 1/2
    assert math.isclose(own.item(), 2 * math.log(2), rel_tol=1e-6)  # −log 1/2 − log(1 − 1/2)


def test_each_term_trains_only_its_own_side():
    d = discriminator(1)
    g = nn.Conv2d(1, 1, 3, padding=1)
    real, fake = torch.rand(4, 1, 8, 8), g(torch.rand(4, 1, 8, 8))
    gen, own = adversarial_terms(d, real, fake)
    grads = lambda loss, params: torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)  # noqa: E731
    assert all(x is None for x in grads(gen, list(d.parameters())))
    assert all(x is not None for x in grads(gen, list(g.parameters())))
    assert all(x is None for x in grads(own, list(g.parameters())))
    assert all(x is not None for x in grads(own, list(d.parameters())))
