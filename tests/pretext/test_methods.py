"""Every registered method, on a tiny backbone: finite loss, gradients reach backbone and head."""

import math

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.pretext import METHODS, list_methods, method_config
from ssrl.views import Views

IMAGE_METHODS = sorted(n for n, c in METHODS.items() if c.modality == "image")


@pytest.mark.parametrize("name", IMAGE_METHODS)
@pytest.mark.parametrize("channels", [1, 3])
def test_method_forward_backward(name, channels):
    torch.manual_seed(0)
    cls = METHODS[name]
    backbone = build_backbone("convnet-small", channels, 16, seed=0)
    method = cls(backbone, method_config(name), Views(cls.default_views()))
    x = torch.rand(6, channels, 16, 16)
    loss, logs = method.loss(*method.pseudolabels(x))
    assert loss.ndim == 0 and math.isfinite(loss.item())
    loss.backward()
    for part in (method.backbone, method.head):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    assert all(v.ndim == 0 for v in logs.values())


def test_list_methods_has_name_family_modality_paper():
    rows = {r["name"]: r for r in list_methods()}
    assert {"simclr", "rotation"} <= set(rows)
    assert rows["rotation"]["family"] == "transformation prediction"
    assert "Chen" in rows["simclr"]["paper"]


def test_method_config_parses_and_rejects():
    assert method_config("simclr", {"temperature": "0.2"}).temperature == 0.2
    from ssrl.errors import SsrlError

    with pytest.raises(SsrlError, match="no parameter 'tau'"):
        method_config("simclr", {"tau": "0.2"})
    with pytest.raises(SsrlError, match="unknown method 'nope'.*rotation"):
        method_config("nope")
