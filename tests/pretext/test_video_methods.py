"""The temporal-order methods' P proven by inverting it on hand-made videos whose pixels say which
frame they are, and the static-video property: a video without motion gives every class the
same input, so its pretext accuracy can only be chance."""

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.views import ViewConfig, Views

T = 16


def _method(name: str, views: ViewConfig | None = None, **params):
    cls = METHODS[name]
    backbone = build_backbone("convnet-small", 1, 8, seed=0)
    return cls(backbone, method_config(name, params), Views(views or ViewConfig.none()))


def _numbered(b: int, frames: int = T) -> torch.Tensor:
    """Videos (b, frames, 1, 8, 8) whose frame t is filled with t / frames."""
    return (torch.arange(frames) / frames).view(1, frames, 1, 1, 1).expand(b, frames, 1, 8, 8).clone()


def _frame_numbers(inputs: torch.Tensor) -> torch.Tensor:
    """(B, K) the frame index each shown frame came from."""
    return (inputs[:, :, 0, 0, 0] * T).round().long()


def _static(b: int) -> torch.Tensor:
    """Videos (b, T, 1, 8, 8) of one random frame each, repeated."""
    return torch.rand(b, 1, 1, 8, 8, generator=torch.Generator().manual_seed(0)).expand(b, T, 1, 8, 8).clone()


def test_arrow_of_time_shows_frames_forward_for_1_and_reversed_for_0():
    torch.manual_seed(0)
    method = _method("arrow_of_time", frames=4, stride=3)
    inputs, z = method.pseudolabels(_numbered(64))
    assert inputs.shape == (64, 4, 1, 8, 8) and int(z.sum()) == 32  # half the batch forward
    steps = _frame_numbers(inputs).diff(dim=1)                       # (B, 3)
    assert bool((steps[z == 1] == 3).all()) and bool((steps[z == 0] == -3).all())
    assert len(set(_frame_numbers(inputs)[:, 0].tolist())) > 1        # random starts


def test_clip_order_shows_the_clips_in_the_order_its_label_names():
    torch.manual_seed(0)
    method = _method("clip_order", clips=3, clip_frames=3, gap=1)
    inputs, z = method.pseudolabels(_numbered(200))
    assert inputs.shape == (200, 9, 1, 8, 8) and set(z.tolist()) == set(range(6))
    shown = _frame_numbers(inputs).view(200, 3, 3)                    # (B, clip position, frame)
    assert bool((shown.diff(dim=2) == 1).all())                       # each clip's frames in order
    rank = shown[:, :, 0].argsort(1).argsort(1)                       # which clip (in time) each position shows
    assert torch.equal(rank, method.orders[z])
    in_time = shown[:, :, 0].sort(1).values
    assert bool((in_time.diff(dim=1) == 3 + 1).all())                 # clip_frames + gap apart


@pytest.mark.parametrize("name", ["arrow_of_time", "clip_order"])
def test_a_static_video_gives_every_class_the_same_input(name):
    """With the views off, P's input from a video whose frames are all the same is that frame
    repeated, whichever pseudolabel it drew: nothing in it tells the classes apart."""
    torch.manual_seed(0)
    x = _static(48)
    inputs, z = _method(name).pseudolabels(x)
    assert len(set(z.tolist())) > 1
    assert torch.equal(inputs, x[:, :1].expand_as(inputs))


@pytest.mark.parametrize("name", ["arrow_of_time", "clip_order"])
def test_views_are_drawn_per_frame_after_the_order(name):
    """The default views crop and jitter every frame on its own draw: frames of a static video
    differ once viewed."""
    torch.manual_seed(0)
    cls = METHODS[name]
    inputs, _ = _method(name, cls.default_views()).pseudolabels(_static(4))
    assert inputs.shape[-2:] == (8, 8)
    assert not torch.equal(inputs[:, 0], inputs[:, 1])


@pytest.mark.parametrize("name, params, needed", [("arrow_of_time", {"frames": 4, "stride": 2}, 7),
                                                  ("clip_order", {"clips": 3, "clip_frames": 4, "gap": 2}, 16)])
def test_videos_too_short_for_the_clips_are_refused(name, params, needed):
    method = _method(name, **params)
    with pytest.raises(SsrlError, match=f"{name} needs videos of at least {needed} frames.*these have {needed - 1}"):
        method.pseudolabels(_numbered(4, needed - 1))
    with pytest.raises(SsrlError, match="takes videos"):
        method.pseudolabels(torch.rand(4, 1, 8, 8))


def test_clip_order_head_sees_every_pair_of_clips():
    method = _method("clip_order", clips=4, clip_frames=2, gap=1, head_hidden=8)
    head = method.head
    assert len(head.first) == 6 and head.out.out_features == 24        # 4 clips: 6 pairs, 24 orders
    assert head(torch.rand(5, 4, method.backbone.dim)).shape == (5, 24)
