"""MoCo v2, MoCo v3 and NNCLR: their losses against loops written from the papers' equations,
shuffled BN, nearest neighbours, and the use of the queue / support set."""

import math

import torch
from torch import nn

from ssrl.backbones import build_backbone
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.moco_v2 import moco_loss, shuffled_forward
from ssrl.pretext.moco_v3 import moco_v3_loss
from ssrl.pretext.nnclr import nearest_neighbours, nnclr_loss
from ssrl.views import Views
from tests.losses.compare import assert_matches_reference, randn


def _unit(v):
    return v / v.norm()


def _nce_row(query, positive, negatives, tau):
    """-log e^{q·k+/τ} / Σ_k e^{q·k/τ} for one query, the positive counted once."""
    num = torch.exp(torch.dot(query, positive) / tau)
    return -torch.log(num / sum(torch.exp(torch.dot(query, k) / tau) for k in negatives))


def test_moco_loss_matches_its_formula():
    k, queue = _rows(randn(4, 3, seed=1)), _rows(randn(6, 3, seed=2))

    def reference(q):
        keys = list(k) + list(queue)  # the batch's keys and the queue all in the denominator
        return sum(_nce_row(q[i], k[i], keys, 0.3) for i in range(4)) / 4

    assert_matches_reference(lambda q: moco_loss(q, k, queue, 0.3), reference, [_rows(randn(4, 3, seed=0))])


def test_moco_v3_loss_matches_its_formula():
    k = randn(4, 3, seed=1)

    def reference(q):
        rows = [_unit(r) for r in q]
        keys = [_unit(r) for r in k]
        return 2 * 0.5 * sum(_nce_row(rows[i], keys[i], keys, 0.5) for i in range(4)) / 4

    assert_matches_reference(lambda q: moco_v3_loss(q, k, 0.5), reference, [randn(4, 3, seed=0)])


def test_nnclr_loss_matches_its_formula_gradient_through_predictions_only():
    neighbours = randn(4, 3, seed=1)

    def reference(p2):
        keys = [_unit(r) for r in p2]
        return sum(_nce_row(_unit(neighbours[i]), keys[i], keys, 0.1) for i in range(4)) / 4

    assert_matches_reference(lambda p2: nnclr_loss(neighbours, p2, 0.1), reference, [randn(4, 3, seed=0)])


def test_nearest_neighbours_by_cosine():
    support = torch.tensor([[10.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    z = torch.tensor([[1.0, 0.1], [0.2, 5.0], [-3.0, -2.0]])
    assert torch.equal(nearest_neighbours(z, support), support)


def test_shuffled_forward_restores_order_and_uses_sub_batch_statistics():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = torch.randn(8, 3)
    torch.manual_seed(5)
    out = shuffled_forward(encoder, x, splits=2)
    torch.manual_seed(5)
    perm = torch.randperm(8)
    expected = torch.empty(8, 4)
    for part in perm.chunk(2):
        expected[part] = encoder(x[part])  # each half normalized by its own statistics
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, encoder(x))  # whole-batch statistics differ
    plain = nn.Linear(3, 4)
    torch.testing.assert_close(shuffled_forward(plain, x, splits=2), plain(x))  # no BN: order restored


def _rows(x):
    return x / x.norm(dim=1, keepdim=True)


def _method(name, **params):
    torch.manual_seed(0)
    cls = METHODS[name]
    return cls(build_backbone("convnet-small", 1, 16, seed=0), method_config(name, params), Views(cls.default_views()))


def test_moco_v2_queue_fills_and_adds_negatives():
    method = _method("moco_v2", queue_size=32)
    x = torch.rand(8, 1, 16, 16)
    torch.manual_seed(1)
    first, _ = method.loss(*method.pseudolabels(x))
    assert int(method.queue.count) == 16  # both views' keys pushed
    torch.manual_seed(1)
    second, _ = method.loss(*method.pseudolabels(x))
    assert second > first  # the same batch, 16 more negatives
    assert "queue.items" in method.state_dict()


def test_nnclr_support_set_supplies_the_positives():
    method = _method("nnclr", support_size=64)
    x = torch.rand(8, 1, 16, 16)
    method.loss(*method.pseudolabels(x))
    assert int(method.support.count) == 8  # view 1's projections
    assert math.isfinite(method.loss(*method.pseudolabels(x))[0].item())
    assert "support.items" in method.state_dict()


def test_moco_v3_trains_a_vit():
    torch.manual_seed(0)
    cls = METHODS["moco_v3"]
    method = cls(build_backbone("vit-mini", 1, 16, seed=0), method_config("moco_v3"), Views(cls.default_views()))
    loss, _ = method.loss(*method.pseudolabels(torch.rand(4, 1, 16, 16)))
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in method.backbone.parameters())
