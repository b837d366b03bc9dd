import math

import pytest
import torch
from torch import nn

from ssrl.components.momentum import cosine_momentum, ema_update, frozen_copy


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_frozen_copy_equals_online_and_takes_no_gradient():
    online = _net()
    target = frozen_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    for a, b in zip(target.parameters(), online.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_ema_update_follows_the_formula_and_copies_buffers():
    online = _net()
    target = frozen_copy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    online(torch.randn(5, 3))  # changes BN running statistics
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, momentum=0.9)
    for t, b, o in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)
    for tb, ob in zip(target.buffers(), online.buffers()):
        assert torch.equal(tb, ob)


def test_ema_update_rejects_mismatched_networks():
    with pytest.raises(ValueError, match="parameters"):
        ema_update(nn.Linear(2, 2), _net(), 0.9)


def test_cosine_momentum_schedule():
    assert cosine_momentum(0.0, 0.996) == pytest.approx(0.996)
    assert cosine_momentum(1.0, 0.996) == pytest.approx(1.0)
    assert cosine_momentum(0.5, 0.99) == pytest.approx(1 - 0.01 * (math.cos(math.pi / 2) + 1) / 2)
    assert cosine_momentum(5.0, 0.99) == pytest.approx(1.0)  # clamped past the end
