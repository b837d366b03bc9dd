import pytest
import torch
import torchvision
from torch import nn

from ssrl.backbones import build_backbone, list_backbones
from ssrl.errors import SsrlError


@pytest.mark.parametrize("name", ["convnet-small", "convnet-small-ln", "resnet18"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_backbone_features_shape(name, channels):
    net = build_backbone(name, channels, 16)
    assert net(torch.rand(2, channels, 16, 16)).shape == (2, net.dim)


def test_layer_norm_convnet_keeps_samples_apart_in_training():
    net = build_backbone("convnet-small-ln", 1, 16, seed=0).train()
    x = torch.rand(4, 1, 16, 16)
    alone = net(x[:1])
    torch.testing.assert_close(net(x)[:1], alone)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_all_registered_backbones_build():
    assert {"convnet-small", "resnet18", "resnet34", "resnet50"} <= set(list_backbones())
    for name in list_backbones():
        assert build_backbone(name, 1, 32).dim > 0


def test_seeded_build_is_repeatable_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = build_backbone("convnet-small", 1, 28, seed=3), build_backbone("convnet-small", 1, 28, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_small_stem_for_small_images_imagenet_stem_otherwise():
    small, large = build_backbone("resnet18", 3, 32), build_backbone("resnet18", 3, 224)
    assert small.conv1.kernel_size == (3, 3) and isinstance(small.maxpool, nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and isinstance(large.maxpool, nn.MaxPool2d)


def test_resnet_state_dict_loads_into_plain_torchvision():
    ours = build_backbone("resnet18", 1, 28, seed=0).eval()
    plain = torchvision.models.resnet18()
    plain.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    plain.maxpool = nn.Identity()
    plain.fc = nn.Identity()
    plain.load_state_dict(ours.state_dict())
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(plain.eval()(x), ours(x))


def test_unknown_backbone_lists_choices():
    with pytest.raises(SsrlError, match="convnet-small"):
        build_backbone("vgg", 3, 32)
