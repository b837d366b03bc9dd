"""``moving-textures`` (``ssrl.data.moving_textures``): the same bytes from the same seed, masks
that are exactly where each object's pixels were pasted (later objects in front), pixels that are
the photograph's own, and held-out videos that round-trip through a DAVIS-layout folder."""

from dataclasses import replace

import numpy as np
import pytest

from ssrl.data import moving_textures as mt
from ssrl.data.davis import davis_folder, read_video
from ssrl.data.video import is_video, load_videos
from ssrl.errors import DataError

N = 6


@pytest.fixture(scope="module")
def made():
    return mt.generate(N)


def test_same_seed_same_bytes_and_a_prefix_of_more_videos(made):
    videos, masks = made
    assert videos.shape == (N, 24, 3, 64, 64) and masks.shape == (N, 24, 64, 64)
    assert videos.dtype == masks.dtype == np.uint8
    again, again_masks = mt.generate(N)
    assert videos.tobytes() == again.tobytes() and masks.tobytes() == again_masks.tobytes()
    fewer, fewer_masks = mt.generate(2)                     # video i depends on (seed, i) only
    assert np.array_equal(fewer, videos[:2]) and np.array_equal(fewer_masks, masks[:2])
    other, _ = mt.generate(2, seed=mt.HELDOUT_SEED)
    assert not np.array_equal(other, videos[:2])


def test_every_object_shows_enough_of_itself_in_the_first_frame(made):
    _, masks = made
    for i in range(N):
        ids = np.unique(masks[i])
        assert ids[0] == 0 and ids.tolist() == list(range(len(ids))) and len(ids) in (2, 3)
        for k, layer in enumerate(mt.layers(mt.SEED, i)[1:], start=1):
            own = mt.render(layer)[1][0].sum()
            assert (masks[i, 0] == k).sum() >= mt.VISIBLE * own > 0


def test_masks_are_exactly_where_each_object_was_pasted_in_order(made):
    """Each object rendered alone (over the same background) gives the pixels the video shows where
    the mask names it; the background alone gives the rest; where two objects' own pixels overlap,
    the mask and the pixels are the later one's."""
    videos, masks = made
    two = [i for i in range(N) if masks[i].max() == 2]
    assert two, "the fixture should hold a video with two objects"
    crossed = 0
    for i in range(N):
        ground, *objects = mt.layers(mt.SEED, i)
        alone, _ = mt.compose([ground])
        assert np.array_equal(videos[i].transpose(0, 2, 3, 1)[masks[i] == 0],
                              alone.transpose(0, 2, 3, 1)[masks[i] == 0])
        owns = []
        for k, layer in enumerate(objects, start=1):
            pasted, own = mt.compose([ground, layer])
            here = masks[i] == k
            assert np.array_equal(videos[i].transpose(0, 2, 3, 1)[here], pasted.transpose(0, 2, 3, 1)[here])
            assert np.all(own[here] == 1)                      # object k is shown only where it was pasted
            owns.append(own == 1)
        if len(owns) == 2:
            assert np.all(masks[i][owns[1]] == 2)              # object 2 is in front wherever it is
            assert np.all(masks[i][owns[0] & ~owns[1]] == 1)   # object 1 wherever object 2 is not
            crossed += (owns[0] & owns[1]).sum()
    assert crossed > 0, "the fixture should hold a crossing"


def test_over_real_frames_the_objects_and_masks_are_the_same_and_the_rest_is_the_clip(made):
    """Backgrounds from (here: made-up) video frames: every window within its part of a clip,
    grey clips repeated to RGB, and the same objects and masks as over the photograph."""
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (40, 3, mt.FRAME, mt.FRAME), dtype=np.uint8),
             rng.integers(0, 256, (30, 1, mt.FRAME, mt.FRAME), dtype=np.uint8)]
    grounds = mt.clip_grounds(clips, N, mt.SEED, part=(0.0, 0.9))
    for ground in grounds:  # 24 consecutive frames of one clip, ending within its first 90 %
        k = next(k for k, c in enumerate(clips) for s in range(len(c) - mt.FRAMES + 1)
                 if np.array_equal(np.broadcast_to(c[s:s + mt.FRAMES], ground.shape), ground) and s + mt.FRAMES <= 0.9 * len(c))
        assert k in (0, 1)
    videos, masks = mt.generate(N, mt.SEED, grounds)
    assert np.array_equal(masks, made[1])
    assert np.array_equal(videos.transpose(0, 1, 3, 4, 2)[masks > 0], made[0].transpose(0, 1, 3, 4, 2)[made[1] > 0])
    assert np.array_equal(videos.transpose(0, 1, 3, 4, 2)[masks == 0], grounds.transpose(0, 1, 3, 4, 2)[masks == 0])
    with pytest.raises(DataError, match="no real video has 24 frames within 50%–100%"):
        mt.clip_grounds(clips[1:], 1, mt.SEED, part=(0.5, 1.0))


def test_an_unscaled_object_shows_the_photographs_own_pixels():
    """A box as large as its window, at whole pixels: every pasted pixel is the reduced photograph's
    pixel at the same offset, and the mask is the blob, nothing else."""
    photo = mt.photographs()[1]
    ground = mt.layers(mt.SEED, 0)[0]
    side, corner, origin = 30.0, np.array([10.0, 20.0]), np.array([50.0, 70.0])
    obj = mt.Layer(1, np.tile(origin, (mt.FRAMES, 1)), side, np.tile(corner + side / 2, (mt.FRAMES, 1)),
                   np.full(mt.FRAMES, side), np.array([[0.5, 0.5, 0.12], [0.4, 0.6, 0.1]] + [[0.5, 0.5, 0.01]] * 3))
    frames, masks = mt.compose([ground, obj])
    t, y, x = np.nonzero(masks)
    assert len(t) > 100 and np.all((y >= 10) & (y < 40) & (x >= 20) & (x < 50))
    expected = np.rint(photo[(y - 10 + 50), (x - 20 + 70)]).astype(np.uint8)  # (M, 3)
    assert np.array_equal(frames.transpose(0, 2, 3, 1)[t, y, x], expected)
    grown = mt.compose([ground, replace(obj, side=np.full(mt.FRAMES, side * 1.2), texture=side * 1.2)])[1]
    assert grown.sum() > masks.sum()                          # the box's side scales the blob with it


def test_the_background_pans_and_objects_move_and_scale():
    ground, first, *_ = mt.layers(mt.SEED, 0)
    pan = np.linalg.norm(ground.origin[-1] - ground.origin[0]) / (mt.FRAMES - 1) * mt.FRAME / ground.texture
    assert mt.PAN[0] - 1e-9 <= pan <= mt.PAN[1] + 1e-9               # frame px a frame
    assert abs(first.side[-1] / first.side[0] - 1) <= mt.SCALE + 1e-9
    assert np.all((first.centre >= mt.MARGIN * first.side[0] - 1e-9) & (first.centre <= 64 - mt.MARGIN * first.side[0]))
    moved = np.linalg.norm(np.diff(first.centre, axis=0), axis=1)  # frame px a frame (a bounce only shortens it)
    assert moved.max() > 0 and moved.max() <= mt.SPEED[1] + 1e-9


def test_a_davis_folder_of_held_out_videos_reads_back(tmp_path, made):
    root = mt.write_davis(tmp_path / "textures", n=2)
    folder = davis_folder(root)
    assert folder.videos == ["textures0000", "textures0001"] and folder.listed_by.name == "val.txt"
    videos, masks = mt.generate(2, seed=mt.HELDOUT_SEED)
    for i, name in enumerate(folder.videos):
        video = read_video(folder, name, side=96)
        assert np.array_equal(video.frames.numpy(), videos[i])  # PNG frames, at their own 64 px
        assert np.array_equal(video.masks.numpy(), masks[i]) and video.annotated.all()
        assert video.objects == list(range(1, masks[i].max() + 1))


def test_named_moving_textures_are_unlabeled_videos(monkeypatch):
    monkeypatch.setattr(mt, "VIDEOS", 3)
    assert is_video("moving-textures")
    videos = load_videos("moving-textures")
    assert videos.labels is None and tuple(videos.videos.shape) == (3, 24, 3, 64, 64)
    assert np.array_equal(videos.videos.numpy(), mt.generate(3)[0])
    with pytest.raises(DataError, match="unlabeled"):
        load_videos("moving-textures", label="digit")
    with pytest.raises(DataError, match="no 'test' split"):
        load_videos("moving-textures", "test")
