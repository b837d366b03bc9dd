"""DINO: multi-crop P, the DINO head, a teacher that takes no gradient and moves only by the EMA
rule, the teacher-temperature schedule, the centre as a checkpointed buffer, and a killed and
resumed run that ends where an uninterrupted one does."""

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ssrl.pretext.dino  # noqa: F401  (registers "dino")
from ssrl.api import pretrain
from ssrl.backbones import BACKBONES, build_backbone
from ssrl.engine import PretrainModule
from ssrl.modality import get_modality
from ssrl.components.momentum import cosine_momentum
from ssrl.pretext import OptimizerDefaults, method_config
from ssrl.pretext.dino import DINO, teacher_temperature
from ssrl.views import Views
from tests.test_engine import Killed, KillAtEpoch

SMALL = dict(out_dim=64, hidden_dim=32, n_local=2)  # a small head keeps the tests fast; local views on


def _method(backbone="convnet-small", channels=1, size=16, **params):
    torch.manual_seed(0)
    return DINO(build_backbone(backbone, channels, size, seed=0), method_config("dino", {**SMALL, **params}),
                Views(DINO.default_views()))


def _step(method, x, step, total, lr=0.5):
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=lr)
    loss, logs = method.loss(*method.pseudolabels(x))
    loss.backward()
    opt.step()
    method.on_after_optimizer_step(step, step / total)
    return loss, logs


def test_multi_crop_pseudolabels():
    method = _method(size=28, n_local=3)
    (global_views, local), z = method.pseudolabels(torch.rand(5, 1, 28, 28))
    assert global_views.shape == (10, 1, 28, 28)
    assert local.shape == (15, 1, 12, 12)  # 96/224 of 28 px
    assert torch.equal(z, torch.arange(5).repeat(5))
    (_, local), _ = _method(size=28, n_local=2, local_size=14).pseudolabels(torch.rand(5, 1, 28, 28))
    assert local.shape == (10, 1, 14, 14)


@pytest.mark.parametrize("backbone, channels", [("convnet-small", 1), ("convnet-small", 3), ("resnet18", 3)])
def test_forward_backward_reaches_student_but_never_teacher(backbone, channels):
    method = _method(backbone, channels)
    method.progress.fill_(0.5)  # past the frozen last layer
    loss, logs = method.loss(*method.pseudolabels(torch.rand(4, channels, 16, 16)))
    assert math.isfinite(loss.item())
    loss.backward()
    for part in (method.backbone, method.head):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert not any(p.requires_grad or p.grad is not None for p in method.teacher.parameters())
    assert {"embedding_std", "effective_rank", "teacher_entropy", "teacher_temp"} <= set(logs)
    assert 0 <= logs["teacher_entropy"] <= math.log(64) + 1e-5


def test_head_is_weight_normalized_with_unit_norm():
    head = _method().head
    z = head.bottleneck(torch.randn(7, head.mlp[0].in_features))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(7))
    cosines = torch.nn.functional.normalize(head.last_layer.weight, dim=1) @ z.T
    torch.testing.assert_close(head.prototypes(z), cosines.T)  # g = 1: the logits are cosines
    with torch.no_grad():
        head.last_layer.weight.mul_(5)  # v's scale is irrelevant
    torch.testing.assert_close(head.prototypes(z), cosines.T)


def test_last_layer_is_frozen_at_the_start_only():
    method = _method(freeze_last_layer=0.2)
    x = torch.rand(4, 1, 16, 16)
    loss, _ = method.loss(*method.pseudolabels(x))
    loss.backward()
    assert torch.equal(method.head.last_layer.weight.grad, torch.zeros_like(method.head.last_layer.weight))
    method.zero_grad()
    method.on_after_optimizer_step(2, 0.2)
    loss, _ = method.loss(*method.pseudolabels(x))
    loss.backward()
    assert method.head.last_layer.weight.grad.abs().sum() > 0


def test_teacher_moves_only_by_the_ema_rule():
    method = _method()
    student = [*method.backbone.parameters(), *method.head.parameters()]
    teacher = [*method.teacher["backbone"].parameters(), *method.teacher["head"].parameters()]
    before = [p.clone() for p in teacher]
    method.progress.fill_(0.5)
    _step(method, torch.rand(6, 1, 16, 16), step=3, total=10)
    m = cosine_momentum(0.3, method.cfg.base_momentum)
    for t, b, s in zip(teacher, before, student, strict=True):
        torch.testing.assert_close(t, m * b + (1 - m) * s)
    assert any(not torch.equal(t, b) for t, b in zip(teacher, before))


def test_engine_optimizer_leaves_out_the_teacher():
    method = _method()
    module = PretrainModule(method, torch.zeros(4, 1, 16, 16, dtype=torch.uint8), 4, 1,
                            DINO.optimizer, seed=0, channels_last=False, modality=get_modality("image"))
    module.trainer = type("T", (), {"estimated_stepping_batches": 10})()
    held = {id(p) for g in module.configure_optimizers()["optimizer"].param_groups for p in g["params"]}
    assert not held & {id(p) for p in method.teacher.parameters()}
    assert {id(p) for p in [*method.backbone.parameters(), *method.head.parameters()]} <= held
    assert isinstance(DINO.optimizer, OptimizerDefaults)


def test_teacher_temperature_schedule():
    assert float(teacher_temperature(0.0, 0.04, 0.07, 0.3)) == pytest.approx(0.04)
    assert float(teacher_temperature(0.15, 0.04, 0.07, 0.3)) == pytest.approx(0.055)
    assert float(teacher_temperature(0.3, 0.04, 0.07, 0.3)) == pytest.approx(0.07)
    assert float(teacher_temperature(0.9, 0.04, 0.07, 0.3)) == pytest.approx(0.07)
    assert float(teacher_temperature(0.0, 0.04, 0.07, 0.0)) == pytest.approx(0.07)  # no warm-up
    method = _method()
    x = torch.rand(4, 1, 16, 16)
    for step, expected in [(0, 0.04), (1, 0.05), (3, 0.07), (9, 0.07)]:  # 10 steps, warm-up 30%
        method.on_after_optimizer_step(step, step / 10)
        _, logs = method.loss(*method.pseudolabels(x))
        assert float(logs["teacher_temp"]) == pytest.approx(expected)


def test_center_is_a_checkpointed_buffer_updated_after_each_loss():
    method = _method()
    state = method.state_dict()
    assert "center" in state and "progress" in state
    assert not any(k.startswith("head.") and "teacher" in k for k in state)
    (global_views, local), z = method.pseudolabels(torch.rand(4, 1, 16, 16))
    with torch.no_grad():
        teacher = method.teacher["head"](method.teacher["backbone"](global_views))
    old = method.center.clone()
    method.loss((global_views, local), z)
    torch.testing.assert_close(method.center, 0.9 * old + 0.1 * teacher.mean(dim=0))
    fresh = _method()
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.center, method.center)


@pytest.mark.skipif("vit-mini" not in BACKBONES, reason="no vit-mini backbone registered")
def test_dino_on_a_vit():
    method = _method("vit-mini", 3, 32)
    method.progress.fill_(0.5)
    (global_views, local), z = method.pseudolabels(torch.rand(4, 3, 32, 32))
    assert local.shape[-1] == 12  # 96/224 of 32 px is 13.7: rounded to whole 4-px patches
    loss, _ = method.loss((global_views, local), z)
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in method.backbone.parameters() if p.requires_grad)


def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path):
    # The centre and the schedules' progress live in buffers, so the checkpoint restores them.
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8))
    run = dict(epochs=2, batch_size=32, params=SMALL, progress=False, log_every_n_steps=1)
    whole = load_file(pretrain(str(data), "dino", out=tmp_path / "whole", **run) / "backbone.safetensors")
    with pytest.raises(Killed):
        pretrain(str(data), "dino", out=tmp_path / "killed", callbacks=(KillAtEpoch(1),), **run)
    resumed = load_file(pretrain(out=tmp_path / "killed", resume=True, progress=False) / "backbone.safetensors")
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=1e-6)
