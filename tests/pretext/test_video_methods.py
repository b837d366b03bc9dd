"""The temporal-order methods' P proven by inverting it on hand-made videos whose pixels say which
frame they are, and the static-video property: a video without motion gives every class the
same input, so its pretext accuracy can only be chance."""

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.clips import motion_weighted_starts
from ssrl.views import ViewConfig, Views

T = 16
VIDEO_METHODS = ["arrow_of_time", "clip_order", "odd_one_out", "shuffle_and_learn"]


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


def test_shuffle_and_learn_positives_are_in_order_and_negatives_take_the_middle_from_outside():
    torch.manual_seed(0)
    method = _method("shuffle_and_learn", span=12, min_gap=2)
    inputs, z = method.pseudolabels(_numbered(400))
    assert inputs.shape == (400, 3, 1, 8, 8) and int(z.sum()) == 200   # half the batch positive
    shown = _frame_numbers(inputs)                                      # (B, 3): (a, b or d, c) or reversed
    a, middle, c = shown.unbind(1)
    low, high = torch.minimum(a, c), torch.maximum(a, c)
    steps = shown.diff(dim=1)                                           # (B, 2)
    positive, negative = z == 1, z == 0
    assert bool((steps[positive].sign() == steps[positive, :1].sign()).all())   # monotone, one way or the other
    assert bool((steps[positive].abs() >= 2).all())                     # min_gap between them
    assert bool(((middle < low) | (middle > high))[negative].all())     # d outside [a, c]
    assert bool((torch.minimum((middle - low).abs(), (middle - high).abs())[negative] >= 2).all())
    assert bool((high - low >= 4).all()) and bool((shown.amax(1) - shown.amin(1) <= 11).all())  # in one window
    for side in (positive, negative):                                   # each class shown both ways
        assert {True, False} == set((c > a)[side].tolist())
    assert {True, False} == set((middle < low)[negative].tolist())      # d from before a and after c


def test_motion_weighted_windows_contain_the_motion_and_follow_its_amount():
    torch.manual_seed(0)
    jump = torch.zeros(500, T, 1, 8, 8)
    jump[:, 10:] = 1                                                    # the only motion: frame 9 -> 10
    assert set(motion_weighted_starts(jump, 6).tolist()) == {5, 6, 7, 8, 9}   # every window holding it
    assert set(motion_weighted_starts(_static(500), 6).tolist()) == set(range(T - 6 + 1))  # static: uniform
    step = torch.rand(T - 1, generator=torch.Generator().manual_seed(1))   # step t -> t+1 moves by step[t]
    video = torch.cat([torch.zeros(1), step.cumsum(0)]).view(1, T, 1, 1, 1).expand(20_000, T, 1, 4, 4)
    drawn = torch.bincount(motion_weighted_starts(video, 6), minlength=T - 5).float() / 20_000
    expected = step.unfold(0, 5, 1).sum(1)                              # window s: steps s .. s+4
    assert torch.allclose(drawn, expected / expected.sum(), atol=0.015)


def test_shuffle_and_learn_draws_its_frames_where_the_video_moves():
    """A video whose only motion is a jump between frames 9 and 10 (its frame numbers written too
    faintly to count as motion): every tuple comes from a window of span frames holding the jump."""
    torch.manual_seed(0)
    x = torch.zeros(256, T, 1, 8, 8)
    x[:, 10:] = 1
    x[:, :, 0, 0, 0] = torch.arange(T) * 1e-4                           # pixel (0, 0): frame number
    inputs, _ = _method("shuffle_and_learn", span=6, min_gap=1).pseudolabels(x)
    shown = (inputs[:, :, 0, 0, 0] / 1e-4).round().long()
    assert bool((shown >= 10 - 5).all()) and bool((shown <= 9 + 5).all())
    assert bool((shown.amax(1) - shown.amin(1) <= 5).all())


def test_odd_one_out_shuffles_only_the_sub_sequence_at_its_label():
    torch.manual_seed(0)
    method = _method("odd_one_out", questions=4, frames=3, stride=2)
    inputs, z = method.pseudolabels(_numbered(300))
    assert inputs.shape == (300, 12, 1, 8, 8) and set(z.tolist()) == set(range(4))
    shown = _frame_numbers(inputs).view(300, 4, 3)                      # (B, position, frame)
    steps = shown.diff(dim=2)
    in_order, reversed_ = (steps == 2).all(2), (steps == -2).all(2)     # stride 2 apart, forwards or back
    odd = torch.arange(4) == z[:, None]                                 # (B, N)
    assert torch.equal(in_order, ~odd) and not bool(reversed_.any())    # the odd one alone is not monotone
    assert bool((shown.sort(2).values.diff(dim=2) == 2).all())          # a shuffle of an in-order sub-sequence
    assert len({tuple(row.argsort().tolist()) for row in shown[odd]}) == 3 * 2 - 2  # all shuffles but two
    firsts = shown.amin(2)                                              # (B, N) each sub-sequence's start
    assert (firsts != firsts[:, :1]).any(1).float().mean() > 0.9       # sub-sequences from their own starts


def test_shuffle_and_learn_and_odd_one_out_refuse_impossible_settings():
    with pytest.raises(SsrlError, match=r"span at least 4·min_gap \+ 1 = 9; got span=8"):
        _method("shuffle_and_learn", span=8, min_gap=2)
    with pytest.raises(SsrlError, match="frames ≥ 3"):
        _method("odd_one_out", frames=2)


@pytest.mark.parametrize("name", VIDEO_METHODS)
def test_grid_head_reads_where_and_at_one_cell_reads_h(name):
    """head_grid N: k_γ reads each frame's last map pooled to N × N; at N = 1 that is h_θ(frame),
    so with the same head weights the logits equal those of the pooled feature (head_grid 0)."""
    torch.manual_seed(0)
    plain, one, four = (_method(name, head_grid=g) for g in (0, 1, 2))
    one.head.load_state_dict(plain.head.state_dict())
    inputs, _ = plain.pseudolabels(torch.rand(3, T, 1, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(one.logits(inputs), plain.logits(inputs))
        assert four.logits(inputs).shape == plain.logits(inputs).shape
    assert sum(p.numel() for p in four.head.parameters()) > sum(p.numel() for p in plain.head.parameters())


def test_a_grid_is_ignored_by_a_clip_backbone_and_refused_without_maps():
    clip = METHODS["arrow_of_time"](build_backbone("r2plus1d-mini", 1, 8, seed=0),
                                    method_config("arrow_of_time", {"head_grid": 2}), Views(ViewConfig.none()))
    assert clip.grid == 0  # a clip backbone's feature is of the whole clip
    with pytest.raises(SsrlError, match="head_grid=2 reads each frame's last feature map"):
        METHODS["shuffle_and_learn"](build_backbone("vit-mini", 1, 8, seed=0),
                                     method_config("shuffle_and_learn", {"head_grid": 2}), Views(ViewConfig.none()))
    with pytest.raises(SsrlError, match="whole number ≥ 0"):
        _method("odd_one_out", head_grid=-1)


@pytest.mark.parametrize("name", VIDEO_METHODS)
def test_the_default_grid_is_4_where_the_backbone_has_maps_and_0_where_it_has_none(name):
    assert _method(name).grid == 4
    plain = METHODS[name](build_backbone("vit-mini", 1, 8, seed=0), method_config(name, {}), Views(ViewConfig.none()))
    assert plain.grid == 0


def test_odd_one_out_head_scores_every_position():
    method = _method("odd_one_out", questions=5, frames=3, head_hidden=8)
    assert method.head.encode[0].in_features == 3 * 16 * method.backbone.dim  # 3 frames' 4 × 4 grids
    assert method.head(torch.rand(2, 5, 3 * 16 * method.backbone.dim)).shape == (2, 5)


@pytest.mark.parametrize("name", VIDEO_METHODS)
def test_every_video_method_trains_a_clip_backbone(name):
    """r2plus1d-mini under each method: the loss is finite and its gradient reaches the backbone."""
    torch.manual_seed(0)
    cls = METHODS[name]
    method = cls(build_backbone("r2plus1d-mini", 1, 8, seed=0), method_config(name, {}), Views(ViewConfig.none()))
    inputs, z = method.pseudolabels(torch.rand(4, T, 1, 8, 8))
    loss, _ = method.loss(inputs, z)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in method.backbone.parameters())


@pytest.mark.parametrize("name", VIDEO_METHODS)
def test_a_static_video_gives_every_class_the_same_input(name):
    """With the views off, P's input from a video whose frames are all the same is that frame
    repeated, whichever pseudolabel it drew: nothing in it tells the classes apart."""
    torch.manual_seed(0)
    x = _static(48)
    inputs, z = _method(name).pseudolabels(x)
    assert len(set(z.tolist())) > 1
    assert torch.equal(inputs, x[:, :1].expand_as(inputs))


@pytest.mark.parametrize("name", VIDEO_METHODS)
def test_views_are_drawn_per_frame_after_the_order(name):
    """The default views crop and jitter every frame on its own draw: frames of a static video
    differ once viewed."""
    torch.manual_seed(0)
    cls = METHODS[name]
    inputs, _ = _method(name, cls.default_views()).pseudolabels(_static(4))
    assert inputs.shape[-2:] == (8, 8)
    assert not torch.equal(inputs[:, 0], inputs[:, 1])


@pytest.mark.parametrize("name, params, needed", [("arrow_of_time", {"frames": 4, "stride": 2}, 7),
                                                  ("clip_order", {"clips": 3, "clip_frames": 4, "gap": 2}, 16),
                                                  ("shuffle_and_learn", {"span": 12, "min_gap": 2}, 12),
                                                  ("odd_one_out", {"frames": 4, "stride": 2}, 7)])
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
    assert head.pair[0].in_features == 2 * 16 * method.backbone.dim  # two clips' 4 × 4 grids
    assert head(torch.rand(5, 4, 16 * method.backbone.dim)).shape == (5, 24)


@pytest.mark.parametrize("name", VIDEO_METHODS)
def test_the_run_saves_sample_questions_with_the_true_answer_and_the_models(name, tmp_path):
    import json

    from PIL import Image

    method = _method(name)
    sample = (_numbered(5) * 255).round().byte()
    torch.manual_seed(0)
    method.save_artifacts(tmp_path, sample)
    captions = json.loads((tmp_path / "tuples.json").read_text())["rows"]
    assert len(captions) == 5 and all("; the model: " in c and c[-1] in "✓✗" for c in captions)
    torch.manual_seed(0)  # the same draw again: each caption's first half is the true pseudolabel
    inputs, z = method.pseudolabels(sample.float() / 255)
    for caption, t in zip(captions, z):
        assert caption.split(": ", 1)[1].startswith(method.describe(int(t)) + ";")
    side, k = 8, inputs.shape[1]
    assert Image.open(tmp_path / "tuples.png").size == (k * (side + 2) - 2, 5 * (side + 2) - 2)
