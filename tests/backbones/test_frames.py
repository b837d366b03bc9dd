"""Backbones on video: an image backbone's per-frame features in one batch equal the frames' one
by one, and a video's vector is their mean (or their mean beside their trend); the clip backbone (r2plus1d-mini) takes clips whole and sees their order."""

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.backbones.frames import FramePooled, clip_dim, clip_features, mean_and_trend, per_frame
from ssrl.pretext import METHODS


def test_per_frame_features_are_each_frames_and_a_video_is_their_mean_or_mean_and_trend():
    backbone = build_backbone("convnet-small", 3, 8, seed=0).eval()
    x = torch.rand(2, 5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = per_frame(backbone, x)
        one_by_one = torch.stack([torch.stack([backbone(x[b, t:t + 1])[0] for t in range(5)]) for b in range(2)])
        pooled, trend = FramePooled(backbone)(x), FramePooled(backbone, "trend")(x)
    assert h.shape == (2, 5, backbone.dim)
    torch.testing.assert_close(h, one_by_one)
    mean = one_by_one.mean(1)
    torch.testing.assert_close(pooled, mean)
    assert FramePooled(backbone).dim == backbone.dim
    slope = sum((t - 2) * one_by_one[:, t] for t in range(5)) / 10     # least squares: Σ(t - t̄)h_t / Σ(t - t̄)²
    torch.testing.assert_close(trend, torch.cat([mean, 4 * slope], 1))
    assert FramePooled(backbone, "trend").dim == 2 * backbone.dim == trend.shape[1]


def test_the_trend_reads_a_linear_change_exactly_and_is_zero_for_still_frames():
    h = torch.stack([torch.tensor([1.0, 5.0]) + t * torch.tensor([0.5, -2.0]) for t in range(4)])[None]  # (1, 4, 2)
    torch.testing.assert_close(mean_and_trend(h), torch.tensor([[1.75, 2.0, 1.5, -6.0]]))
    torch.testing.assert_close(mean_and_trend(h.flip(1))[:, 2:], -mean_and_trend(h)[:, 2:])
    still = torch.ones(3, 1, 2)
    torch.testing.assert_close(mean_and_trend(still), torch.tensor([[1.0, 1.0, 0.0, 0.0]]).expand(3, 4))


def test_the_clip_backbone_sees_time_and_takes_clips_of_any_length():
    """r2plus1d-mini: (B, T, C, H, W) -> (B, 128); its temporal convolutions make the feature
    depend on the frames' order (a per-frame mean does not); one frame is a clip too."""
    backbone = build_backbone("r2plus1d-mini", 1, 16, seed=0).eval()
    x = torch.rand(3, 6, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h, reversed_h = backbone.train()(x), backbone(x.flip(1))           # batch statistics: features near 1
        assert not torch.allclose(h, reversed_h, rtol=1e-2, atol=0)
        h, frames = backbone.eval()(x), per_frame(backbone, x)
        torch.testing.assert_close(frames[:, 2], backbone(x[:, 2:3]))      # each frame as a one-frame clip
        torch.testing.assert_close(FramePooled(backbone)(x), h)            # the whole video's feature
        assert clip_features(backbone, x).shape == (3, 128) == (3, clip_dim(backbone, 6))
    image = build_backbone("convnet-small", 1, 16, seed=0).eval()
    assert clip_features(image, x).shape == (3, 6 * 128) == (3, clip_dim(image, 6))


def test_a_clip_backbone_is_refused_by_image_methods_and_computes_in_ncthw():
    from ssrl.errors import SsrlError
    from ssrl.modality import get_modality

    with pytest.raises(SsrlError, match="rotation is a method for image; ClipNet is a clip backbone"):
        METHODS["rotation"].check_backbone(build_backbone("r2plus1d-mini", 1, 16))
    video = get_modality("video")
    assert video.channels_last_for("convnet-small") and not video.channels_last_for("r2plus1d-mini")
