import pytest
import torch
from torch import nn

from ssrl.backbones import build_backbone
from ssrl.backbones.maps import MapsUnavailable, features_and_maps, has_maps, map_channels


@pytest.mark.parametrize("name,sides,channels", [
    ("convnet-small", [28, 14, 7], [32, 64, 128]),
    ("resnet18", [28, 14, 7, 4], [64, 128, 256, 512]),
])
def test_maps_finest_first_and_features_equal_the_backbones_own(name, sides, channels):
    backbone = build_backbone(name, 1, 28, seed=0).eval()
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    h, maps = features_and_maps(backbone, x)
    assert [m.shape[-1] for m in maps] == sides
    assert [m.shape[1] for m in maps] == channels == map_channels(backbone)
    torch.testing.assert_close(h, backbone(x), rtol=0, atol=0)
    # The global feature is the mean of the last map: the map the global pool reads.
    torch.testing.assert_close(h, maps[-1].mean(dim=(2, 3)))


def test_map_channels_moves_no_batch_norm_statistics():
    backbone = build_backbone("convnet-small", 3, 32, seed=0).train()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    map_channels(backbone)
    assert backbone.training
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_a_backbone_without_maps_is_refused_naming_the_method_to_add():
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert not has_maps(plain)
    with pytest.raises(MapsUnavailable, match="forward_maps"):
        features_and_maps(plain, torch.zeros(1, 1, 8, 8))
