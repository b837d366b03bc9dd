"""h_θ's input layer as the pixel tasks read it: the image channels of any backbone with a
convolution, and a clear refusal, naming the method, of one without."""

import pytest
from torch import nn

from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext.backbone_input import image_channels, input_channels


@pytest.mark.parametrize("name", ["convnet-small", "resnet18", "vit-mini"])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_channels_are_the_first_convolutions(name, channels):
    backbone = build_backbone(name, channels, 16, seed=0)
    assert image_channels(backbone, "inpainting") == input_channels(backbone) == channels


def test_a_backbone_without_convolution_is_refused_by_name():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    assert input_channels(mlp) is None
    with pytest.raises(SsrlError, match="super_resolution: cannot tell how many image channels Sequential takes"):
        image_channels(mlp, "super_resolution")
