"""SwAV: multi-crop P, unit prototypes after every step, prototypes frozen at the start only,
codes from the Sinkhorn over the batch (and the queue, a checkpointed buffer, once full), and
a tiny run through the engine."""

import math

import numpy as np
import pytest
import torch
import yaml

import ssrl.pretext.swav  # noqa: F401  (registers "swav")
from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.losses.swapped import sinkhorn
from ssrl.pretext import method_config
from ssrl.pretext.swav import SwAV
from ssrl.views import Views

SMALL = dict(n_prototypes=12, n_local=2)  # a small head keeps the tests fast


def _method(channels=1, size=16, **params):
    torch.manual_seed(0)
    return SwAV(build_backbone("convnet-small", channels, size, seed=0), method_config("swav", {**SMALL, **params}),
                Views(SwAV.default_views()))


def _step(method, x, lr=0.5):
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=lr)
    loss, logs = method.loss(*method.pseudolabels(x))
    loss.backward()
    opt.step()
    method.on_after_optimizer_step(int(method.step) + 1, 100)
    return loss, logs


def _unit_rows(w):
    torch.testing.assert_close(w.norm(dim=1), torch.ones(len(w)))


def test_multi_crop_pseudolabels():
    method = _method(size=28, n_local=3)
    (global_views, local), z = method.pseudolabels(torch.rand(5, 1, 28, 28))
    assert global_views.shape == (10, 1, 28, 28)
    assert local.shape == (15, 1, 12, 12)  # 96/224 of 28 px
    assert torch.equal(z, torch.arange(5).repeat(5))
    (_, local), _ = _method(size=28, n_local=2, local_size=14).pseudolabels(torch.rand(5, 1, 28, 28))
    assert local.shape == (10, 1, 14, 14)


@pytest.mark.parametrize("channels, n_local", [(1, 2), (3, 0)])
def test_forward_backward_reaches_backbone_projector_and_prototypes(channels, n_local):
    method = _method(channels, n_local=n_local, freeze_prototypes_steps=0)
    loss, logs = method.loss(*method.pseudolabels(torch.rand(6, channels, 16, 16)))
    assert math.isfinite(loss.item())
    loss.backward()
    for part in (method.backbone, method.head):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert {"embedding_std", "effective_rank"} <= set(logs)


def test_prototypes_stay_unit_norm_after_a_step():
    method = _method(freeze_prototypes_steps=0)
    _unit_rows(method.head.prototypes.weight)  # from the start
    before = method.head.prototypes.weight.clone()
    _step(method, torch.rand(6, 1, 16, 16), lr=5.0)
    assert not torch.allclose(method.head.prototypes.weight, before)
    _unit_rows(method.head.prototypes.weight)


def test_prototypes_are_frozen_for_the_first_steps_only():
    method = _method(freeze_prototypes_steps=2)
    x = torch.rand(6, 1, 16, 16)
    before = method.head.prototypes.weight.clone()
    projector = method.head.projector[0].weight.clone()
    for _ in range(2):
        method.zero_grad()
        _step(method, x)
        w = method.head.prototypes.weight
        assert torch.equal(w.grad, torch.zeros_like(w))  # a zero gradient, not None: DDP needs one
        torch.testing.assert_close(w, before, rtol=0, atol=1e-7)  # re-normalized: equal to rounding
    assert not torch.equal(method.head.projector[0].weight, projector)  # the rest trains meanwhile
    method.zero_grad()
    _step(method, x)  # step 3: unfrozen
    assert method.head.prototypes.weight.grad.abs().sum() > 0
    assert not torch.allclose(method.head.prototypes.weight, before)


def test_codes_are_the_sinkhorn_of_the_batch_without_a_queue():
    method = _method(queue_size=0)
    emb = torch.nn.functional.normalize(torch.randn(6, 128), dim=1)
    scores = emb @ method.head.prototypes.weight.T
    torch.testing.assert_close(method._codes(emb, scores, 0), sinkhorn(scores, 0.05, 3))


def test_queue_is_a_checkpointed_buffer_filled_from_its_epoch_and_used_once_full():
    method = _method(queue_size=8, start_queue_epoch=1)
    assert {"queue", "queue_count", "step"} <= set(method.state_dict())
    assert method.queue.shape == (2, 8, 128)
    x = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        method.loss(*method.pseudolabels(x))
    assert int(method.queue_count) == 0 and not method.queue.any()  # epoch 0 < start_queue_epoch
    method.on_train_epoch_start(1, (x * 255).to(torch.uint8), None)
    batches = []
    for _ in range(2):
        inputs, z = method.pseudolabels(x)
        with torch.no_grad():
            emb, _ = method.head(torch.cat([method.backbone(inputs[0]), method.backbone(inputs[1])]))
            method.loss(inputs, z)
        batches.append(emb[:8])  # both global views of the 4 images
    assert int(method.queue_count) == 8
    # Newest first; BN's batch statistics repeat exactly for the same inputs in train mode.
    torch.testing.assert_close(method.queue[0], torch.cat([batches[1][:4], batches[0][:4]]))
    torch.testing.assert_close(method.queue[1], torch.cat([batches[1][4:], batches[0][4:]]))

    # Once full, the queue's scores join the Sinkhorn and only this batch's rows come back.
    queue = method.queue.clone()
    emb = torch.nn.functional.normalize(torch.randn(4, 128), dim=1)
    scores = emb @ method.head.prototypes.weight.T
    expected = sinkhorn(torch.cat([queue[1] @ method.head.prototypes.weight.T, scores]))[-4:]
    codes = method._codes(emb, scores, 1)
    torch.testing.assert_close(codes, expected)
    assert not torch.allclose(codes, sinkhorn(scores))
    torch.testing.assert_close(method.queue[1, :4], emb)  # then pushed

    fresh = _method(queue_size=8)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.queue, method.queue) and int(fresh.queue_count) == 8


def test_tiny_run_through_the_engine(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (32, 12, 12), dtype=np.uint8))
    params = {**SMALL, "queue_size": 16, "start_queue_epoch": 0, "freeze_prototypes_steps": 2}
    run = pretrain(str(data), "swav", out=tmp_path / "run", epochs=2, batch_size=8, params=params,
                   progress=False, log_every_n_steps=1)
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert int(state["method.step"]) == 8 and int(state["method.queue_count"]) == 16
    _unit_rows(state["method.head.prototypes.weight"])
    assert yaml.safe_load((run / "config.yaml").read_text())["params"]["n_prototypes"] == 12
