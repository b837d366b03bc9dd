import numpy as np
import pytest
import torch

from ssrl.data import load_labeled, load_source
from ssrl.errors import DataError

RNG = np.random.default_rng(0)
NCHW = RNG.integers(0, 256, (5, 3, 7, 9), dtype=np.uint8)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("dtype", ["uint8", "float"])
def test_npy_layouts(tmp_path, layout, dtype):
    x = NCHW if layout == "nchw" else NCHW.transpose(0, 2, 3, 1)
    x = x if dtype == "uint8" else x.astype(np.float32) / 255
    np.save(tmp_path / "x.npy", x)
    source = load_source(str(tmp_path / "x.npy"))
    assert source.labels is None
    assert torch.equal(source.images, torch.from_numpy(NCHW))


def test_gray_nhw_and_single_channel(tmp_path):
    np.save(tmp_path / "a.npy", NCHW[:, 0])
    np.save(tmp_path / "b.npy", NCHW[:, :1])
    assert load_source(str(tmp_path / "a.npy")).images.shape == (5, 1, 7, 9)
    assert torch.equal(load_source(str(tmp_path / "b.npy")).images, torch.from_numpy(NCHW[:, :1]))


def test_rgba_becomes_rgb(tmp_path):
    x = np.full((2, 6, 6, 4), 255, np.uint8)
    x[..., 3] = 0  # fully transparent -> white
    np.save(tmp_path / "x.npy", x)
    source = load_source(str(tmp_path / "x.npy"))
    assert source.channels == 3 and bool((source.images == 255).all())


def test_npz_with_labels_and_holdout(tmp_path):
    y = np.arange(50) % 5
    np.savez(tmp_path / "d.npz", images=RNG.integers(0, 256, (50, 8, 8), dtype=np.uint8), labels=y)
    train, test, note = load_labeled(str(tmp_path / "d.npz"))
    assert (len(train), len(test)) == (40, 10)
    assert note == "test split: stratified 20% held out (seed 0)"


def test_npz_own_split(tmp_path):
    x = RNG.random((6, 8, 8, 1))
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(6), x_test=x[:2], y_test=np.arange(2))
    train, test, note = load_labeled(str(tmp_path / "d.npz"))
    assert train.images.shape == (6, 1, 8, 8) and len(test) == 2
    assert "x_test" in note


def test_float_out_of_range_is_an_error(tmp_path):
    np.save(tmp_path / "x.npy", np.full((2, 8, 8), 2.0))
    with pytest.raises(DataError, match=r"x\.npy.*\[0, 1\]"):
        load_source(str(tmp_path / "x.npy"))


def test_bad_shape_and_pickles_are_errors(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 5), np.uint8))
    with pytest.raises(DataError, match="x.npy"):
        load_source(str(tmp_path / "x.npy"))
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="o.npy"):
        load_source(str(tmp_path / "o.npy"))


def test_label_length_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.arange(3))
    with pytest.raises(DataError, match=r"d\.npz \[y\]"):
        load_source(str(tmp_path / "d.npz"))
