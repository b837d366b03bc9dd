"""Image backbones on video: per-frame features in one batch equal the frames' one by one."""

import torch

from ssrl.backbones import build_backbone
from ssrl.backbones.frames import FramePooled, per_frame


def test_per_frame_features_are_each_frames_and_pooling_is_their_mean():
    backbone = build_backbone("convnet-small", 3, 8, seed=0).eval()
    x = torch.rand(2, 5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = per_frame(backbone, x)
        one_by_one = torch.stack([torch.stack([backbone(x[b, t:t + 1])[0] for t in range(5)]) for b in range(2)])
        pooled = FramePooled(backbone)(x)
    assert h.shape == (2, 5, backbone.dim)
    torch.testing.assert_close(h, one_by_one)
    torch.testing.assert_close(pooled, one_by_one.mean(1))
    assert FramePooled(backbone).dim == backbone.dim
