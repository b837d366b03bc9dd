"""r2plus1d-mini: a small (2+1)-D CNN that sees a clip as a whole, for video runs on a CPU.

Tran, Wang, Torresani, Ray, LeCun & Paluri, 2018, "A Closer Look at Spatiotemporal Convolutions
for Action Recognition" (CVPR): a 3-D convolution t×d×d factored into a spatial 1×d×d convolution
and a temporal t×1×1 one, with batch norm and ReLU between, so the block has a non-linearity
more than a 3-D convolution of the same size. Here: six (2+1)-D 3×3×3 convolutions of widths 32,
32, 64, 64, 128, 128 (as ``convnet-small``'s 2-D ones), each followed by batch norm and ReLU,
spatial 2×2 max-pools after the second and the fourth, then global average pooling over time and
space: a 128-d feature.

Departures, to be CPU-sized: the width between the spatial and the temporal convolution of a pair
is its output width, not the paper's wider one that matches the 3-D convolution's parameter count
(which made the network cost about 3.4 times ``convnet-small`` a frame; this one, about 1.3 times);
no residual connections (six layers train without them), no temporal striding (clips here are 4
to 16 frames), and no stem of larger kernels. Time is padded, so a clip of any length (one frame
included) gives a feature.

Input: float clips (B, T, C, H, W) in [0, 1], the layout of every video batch in ssrl
(``kind = "clip"``; ``ssrl.backbones.frames`` routes clips and frames to it).
"""

from torch import nn

from ssrl.backbones.registry import register_backbone


class Conv2Plus1D(nn.Sequential):
    """Spatial 1×3×3 convolution, batch norm, ReLU, temporal 3×1×1 convolution."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv3d(c_in, c_out, (1, 3, 3), padding=(0, 1, 1), bias=False), nn.BatchNorm3d(c_out),
                         nn.ReLU(inplace=True), nn.Conv3d(c_out, c_out, (3, 1, 1), padding=(1, 0, 0), bias=False))


class ClipNet(nn.Module):
    """(2+1)-D conv-BN-ReLU blocks over a clip; ``dim`` is the width of the last block."""

    kind = "clip"

    def __init__(self, in_channels: int, widths=(32, 32, 64, 64, 128, 128), pool_after=(1, 3)):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers += [Conv2Plus1D(c, w), nn.BatchNorm3d(w), nn.ReLU(inplace=True)]
            if i in pool_after:
                layers.append(nn.MaxPool3d((1, 2, 2)))
            c = w
        self.layers = nn.Sequential(*layers)
        self.dim = c

    def forward(self, x):
        """x (B, T, C, H, W) -> (B, dim)."""
        return self.layers(x.transpose(1, 2)).mean(dim=(2, 3, 4))


@register_backbone("r2plus1d-mini")
def r2plus1d_mini(in_channels: int, image_size: int) -> ClipNet:
    return ClipNet(in_channels)
