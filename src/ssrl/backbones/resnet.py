"""torchvision ResNets as backbones, for any number of input channels and small images.

The module *is* a torchvision ``ResNet`` with ``fc = Identity``, so its state dict loads into
a plain ``torchvision.models.resnetNN()`` (after the same stem change, see ``adapt_stem``).
For inputs of at most 64 px the ImageNet stem (7×7 stride-2 conv + max-pool) throws away
most of the image, so we use the small-image stem of the CIFAR experiments in He et al.
2016 (arXiv:1512.03385) and SimCLR (arXiv:2002.05709, appendix B.9): a 3×3 stride-1 conv
and no max-pool.
"""

from torch import nn

from ssrl.backbones.registry import register_backbone

SMALL_IMAGE_MAX = 64


def adapt_stem(net: nn.Module, in_channels: int, small_stem: bool) -> nn.Module:
    """Replace the first conv for ``in_channels`` and, for small images, the stem."""
    if small_stem:
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    return net


def _resnet(name: str, in_channels: int, image_size: int) -> nn.Module:
    from torchvision import models  # here, not at import: torchvision takes seconds to import

    net = getattr(models, name)(weights=None)
    net.dim, net.kind = net.fc.in_features, "cnn"
    net.fc = nn.Identity()
    return adapt_stem(net, in_channels, small_stem=image_size <= SMALL_IMAGE_MAX)


for _name in ("resnet18", "resnet34", "resnet50"):
    register_backbone(_name)(lambda in_channels, image_size, n=_name: _resnet(n, in_channels, image_size))
