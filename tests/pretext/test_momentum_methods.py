"""The methods with an EMA target (BYOL, MoCo v2, MoCo v3): no gradient reaches the target,
the optimizer does not hold it, and after a step it moves by exactly the EMA rule."""

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.engine import PretrainModule
from ssrl.modality import get_modality
from ssrl.components.momentum import cosine_momentum
from ssrl.pretext import METHODS, OptimizerDefaults, method_config
from ssrl.views import Views

TARGETS = {"byol": "target", "moco_v2": "key_encoder", "moco_v3": "momentum_encoder"}


def _method(name):
    torch.manual_seed(0)
    cls = METHODS[name]
    return cls(build_backbone("convnet-small", 1, 16, seed=0), method_config(name), Views(cls.default_views()))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_gets_no_gradient_and_follows_the_ema_rule(name):
    method = _method(name)
    target = getattr(method, TARGETS[name])
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.5)
    assert not any(p.requires_grad for p in target.parameters())
    before = [p.clone() for p in target.parameters()]
    loss, _ = method.loss(*method.pseudolabels(torch.rand(8, 1, 16, 16)))
    loss.backward()
    assert all(p.grad is None for p in target.parameters())
    opt.step()
    method.on_after_optimizer_step(step=3, progress=0.3)
    m = cosine_momentum(0.3, method.cfg.base_momentum)
    # The target is (backbone, projector) copied: its parameters pair with the online ones in order.
    online = [p for p in method.backbone.parameters()]
    head = method.head["projector"] if isinstance(method.head, torch.nn.ModuleDict) else method.head
    online += list(head.parameters())
    moved = False
    for t, b, o in zip(target.parameters(), before, online, strict=True):
        torch.testing.assert_close(t, m * b + (1 - m) * o)
        moved |= not torch.equal(t, b)
    assert moved


def test_engine_optimizer_leaves_out_the_target():
    method = _method("byol")
    module = PretrainModule(method, torch.zeros(4, 1, 16, 16, dtype=torch.uint8), 4, 1,
                            OptimizerDefaults(), seed=0, channels_last=False, modality=get_modality("image"))
    module.trainer = type("T", (), {"estimated_stepping_batches": 10})()
    opt = module.configure_optimizers()["optimizer"]
    held = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not held & {id(p) for p in method.target.parameters()}
    assert {id(p) for p in method.backbone.parameters()} <= held
