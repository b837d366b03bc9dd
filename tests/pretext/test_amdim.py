import math

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.amdim import random_location
from ssrl.views import Views


def _method(name: str, backbone: str = "convnet-small", channels: int = 1):
    cls = METHODS[name]
    torch.manual_seed(0)
    return cls(build_backbone(backbone, channels, 16, seed=0), method_config(name, {}), Views(cls.default_views()))


def test_random_location_picks_one_column_of_each_images_map():
    local = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)
    picked = random_location(local)
    for i in range(2):
        assert any(torch.equal(picked[i], local[i, :, loc]) for loc in range(5))


def test_amdim_reports_its_three_pairs_and_trains_a_resnet():
    method = _method("amdim", "resnet18")
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    loss, logs = method.loss(*method.pseudolabels(x))
    assert set(logs) == {"global_last", "global_mid", "last_last"}
    loss.backward()
    assert method.backbone.layer3[0].conv1.weight.grad.abs().sum() > 0  # the mid map's stage learns


@pytest.mark.parametrize("name", ["amdim", "yadim"])
def test_the_nce_learns_to_match_views(name):
    # With equal scores each positive is one of 1 + (B-1)·L equal candidates (chance); a few
    # steps on fixed pairs of views must bring the NCE well below that value.
    method = _method(name)
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    inputs, z = method.pseudolabels(x)
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    key = "last_last" if name == "amdim" else "nce"
    side = 4  # convnet-small's last map at 16 px
    chance = math.log(1 + 5 * side * side)
    for _ in range(40):
        loss, logs = method.loss(inputs, z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs[key].item() < chance - 1.0


@pytest.mark.parametrize("name", ["amdim", "yadim"])
def test_a_backbone_without_feature_maps_is_refused(name):
    with pytest.raises(SsrlError, match="feature maps|cnn"):
        _method(name, "vit-tiny")
