"""Video arrays (``ssrl.data.video``) and the ``moving-digits`` set."""

import numpy as np
import pytest
import torch

from ssrl.data import moving_digits
from ssrl.data.video import is_video, load_videos, load_videos_labeled
from ssrl.errors import DataError

RNG = np.random.default_rng(0)
NTCHW = RNG.integers(0, 256, (6, 5, 3, 8, 8), dtype=np.uint8)


@pytest.mark.parametrize("layout", ["ntchw", "nthwc"])
@pytest.mark.parametrize("dtype", ["uint8", "float"])
def test_npy_layouts(tmp_path, layout, dtype):
    x = NTCHW if layout == "ntchw" else NTCHW.transpose(0, 1, 3, 4, 2)
    x = x if dtype == "uint8" else x.astype(np.float32) / 255
    np.save(tmp_path / "v.npy", x)
    assert is_video(str(tmp_path / "v.npy"))
    videos = load_videos(str(tmp_path / "v.npy"))
    assert videos.labels is None and torch.equal(videos.videos, torch.from_numpy(NTCHW))


def test_4d_arrays_are_grayscale_videos_only_where_they_cannot_be_images(tmp_path):
    np.save(tmp_path / "video.npy", NTCHW[:, :, 0])                   # (6, 5, 8, 8): 5 is no channel count
    np.save(tmp_path / "images.npy", NTCHW[:, :3, 0])                 # (6, 3, 8, 8): 3-channel images
    np.save(tmp_path / "gray.npy", NTCHW[:, 0, 0])                    # (6, 8, 8): images
    assert is_video(str(tmp_path / "video.npy"))
    assert not is_video(str(tmp_path / "images.npy")) and not is_video(str(tmp_path / "gray.npy"))
    assert load_videos(str(tmp_path / "video.npy")).videos.shape == (6, 5, 1, 8, 8)


def test_the_rule_reads_the_header_only(tmp_path, monkeypatch):
    np.save(tmp_path / "v.npy", NTCHW)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("is_video read the data"))
    assert is_video(str(tmp_path / "v.npy"))
    assert not is_video(str(tmp_path / "missing.npy")) and not is_video("cifar10")


def test_bad_channels_dtype_and_nan_name_the_file(tmp_path):
    np.save(tmp_path / "c.npy", NTCHW[:, :, :2])                       # 2 channels
    np.save(tmp_path / "d.npy", NTCHW.astype(np.complex64))
    nan = NTCHW.astype(np.float32) / 255
    nan[2, 1, 0, 0, 0] = np.nan
    np.save(tmp_path / "n.npy", nan)
    with pytest.raises(DataError, match=r"c\.npy.*2 channels"):
        load_videos(str(tmp_path / "c.npy"))
    with pytest.raises(DataError, match=r"d\.npy.*complex64"):
        load_videos(str(tmp_path / "d.npy"))
    with pytest.raises(DataError, match=r"n\.npy.*1 NaN value.*first in image 2"):
        load_videos(str(tmp_path / "n.npy"))


def test_an_npz_of_images_is_refused_as_videos_naming_file_and_key(tmp_path):
    np.savez(tmp_path / "x.npz", x=NTCHW[:, 0])                        # (6, 3, 8, 8): images
    assert not is_video(str(tmp_path / "x.npz"))
    with pytest.raises(DataError, match=r"x\.npz \[x\].*not \(N, T, C, H, W\)"):
        load_videos(str(tmp_path / "x.npz"))


def test_npz_labels_own_split_and_other_labels(tmp_path):
    y = np.arange(6) % 2
    np.savez(tmp_path / "split.npz", x_train=NTCHW, y_train=y, x_test=NTCHW[:2], y_test=y[:2],
             direction_train=5 - np.arange(6), direction_test=np.arange(2))
    train, test, note = load_videos_labeled(str(tmp_path / "split.npz"))
    assert len(train) == 6 and len(test) == 2 and "own" in note
    assert torch.equal(train.labels, torch.from_numpy(y))
    train, test, _ = load_videos_labeled(str(tmp_path / "split.npz"), label="direction")
    assert train.labels.tolist() == [5, 4, 3, 2, 1, 0] and test.labels.tolist() == [0, 1]
    with pytest.raises(DataError, match=r"split\.npz: no labels 'speed_train'"):
        load_videos(str(tmp_path / "split.npz"), label="speed")

    np.savez(tmp_path / "one.npz", x=NTCHW, y=np.arange(6) % 3)
    train, test, note = load_videos_labeled(str(tmp_path / "one.npz"), holdout=0.5)
    assert (len(train), len(test)) == (3, 3) and "stratified" in note
    assert sorted(test.labels.tolist()) == [0, 1, 2]


def test_labels_of_the_wrong_length_name_file_and_key(tmp_path):
    np.savez(tmp_path / "v.npz", x=NTCHW, y=np.arange(4))
    with pytest.raises(DataError, match=r"v\.npz \[y\]: labels must be 6"):
        load_videos(str(tmp_path / "v.npz"))


def test_frames_are_resized_to_the_size_asked(tmp_path):
    np.save(tmp_path / "v.npy", NTCHW)
    videos = load_videos(str(tmp_path / "v.npy"), image_size=4)
    assert videos.videos.shape == (6, 5, 3, 4, 4) and videos.videos.dtype == torch.uint8


def test_moving_digits_is_deterministic_and_sized():
    a, b = moving_digits.generate(), moving_digits.generate()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    videos, digit, direction = a
    assert videos.shape == (1797, 16, 1, 32, 32) and videos.dtype == np.uint8
    assert set(digit.tolist()) == set(range(10)) and np.bincount(direction).min() >= 1797 // 8
    assert not np.array_equal(moving_digits.generate(seed=1)[0], videos)


def _centre(frames: np.ndarray) -> np.ndarray:
    """(N, 2) centres of mass (x, y) of frames (N, H, W)."""
    f = frames.astype(np.float64)
    ys, xs = np.mgrid[:f.shape[1], :f.shape[2]]
    mass = f.sum((1, 2))
    return np.stack([(f * xs).sum((1, 2)) / mass, (f * ys).sum((1, 2)) / mass], 1)


def test_the_direction_label_is_the_digits_first_step():
    videos, digit, direction = moving_digits.generate()
    step = _centre(videos[:, 1, 0]) - _centre(videos[:, 0, 0])        # (N, 2) displacement
    angle = np.degrees(np.arctan2(-step[:, 1], step[:, 0])) % 360       # counter-clockwise, y up
    assert np.array_equal(np.round(angle / 45).astype(int) % 8, direction)
    from sklearn.datasets import load_digits

    assert np.array_equal(digit, load_digits().target)
    labeled = load_videos("moving-digits", label="direction")
    assert torch.equal(labeled.labels, torch.from_numpy(direction))


def test_moving_digits_slow_down_so_that_time_has_an_arrow():
    videos, _, _ = moving_digits.generate()
    centres = np.stack([_centre(videos[:, i, 0]) for i in range(videos.shape[1])], 1)  # (N, T, 2)
    steps = np.abs(np.diff(centres, axis=1)).max(axis=2)                # (N, T-1): pixels moved per frame
    early, middle, late = steps[:, :5].mean(), steps[:, 5:10].mean(), steps[:, 10:].mean()
    assert early > 2 and early - 0.8 > middle > late + 0.8               # a pixel a frame slower every 5 frames
    assert steps[:, -1].max() < 1.01 and (steps[:, -1] < 0.01).mean() > 0.4  # the slow ones have stopped


def test_moving_digits_has_no_own_split_and_a_stratified_holdout():
    train, test, note = load_videos_labeled("moving-digits", seed=3)
    assert (len(train), len(test)) == (1438, 359) and "stratified 20%" in note
    assert torch.bincount(test.labels).min() >= 35
    with pytest.raises(DataError, match="no labels 'colour'"):
        load_videos("moving-digits", label="colour")
