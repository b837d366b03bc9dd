import numpy as np
import pytest
import torch

from ssrl.data.tracks import track_video, track_videos


def _pan(dx: int, dy: int, frames: int = 8, side: int = 48) -> np.ndarray:
    """A textured scene seen through a window that moves by (−dx, −dy) a frame: its content moves
    by (dx, dy) a frame."""
    scene = (np.random.default_rng(0).random((side * 2, side * 2)) * 255).astype(np.uint8)
    scene = np.kron(scene[::4, ::4], np.ones((4, 4), dtype=np.uint8))  # 4-px blocks: corners LK can follow
    o = side // 2
    return np.stack([scene[o - t * dy:o - t * dy + side, o - t * dx:o - t * dx + side] for t in range(frames)])


@pytest.mark.parametrize("dx,dy", [(1, 0), (2, -1), (0, 2)])
def test_a_known_pan_is_recovered(dx, dy):
    path, moving = track_video(_pan(dx, dy))
    steps = np.diff(path, axis=0)                                        # (T-1, 2)
    assert moving
    np.testing.assert_allclose(steps, np.tile([dx, dy], (len(steps), 1)), atol=0.25)


def test_a_blank_video_gets_a_static_centre_track():
    path, moving = track_video(np.zeros((5, 20, 30), dtype=np.uint8))
    assert not moving
    np.testing.assert_allclose(path, np.tile([14.5, 9.5], (5, 1)))


def test_videos_are_tracked_one_by_one_in_colour_too():
    gray = torch.from_numpy(_pan(1, 1))[None, :, None]                   # (1, T, 1, H, W)
    colour = gray.expand(-1, -1, 3, -1, -1)
    tracks, moving = track_videos(torch.cat([colour, colour]))
    assert tracks.shape == (2, 8, 2) and moving.all()
    torch.testing.assert_close(tracks[0], torch.from_numpy(track_video(_pan(1, 1))[0]))
