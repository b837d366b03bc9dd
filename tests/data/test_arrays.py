import io
import struct
import zipfile

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


def test_uint16_is_scaled_by_its_high_byte(tmp_path):
    x = np.array([0, 255, 256, 1000, 32768, 65280, 65535, 7], np.uint16).reshape(1, 2, 4).repeat(3, 0)
    for dtype in ("<u2", ">u2"):
        np.save(tmp_path / "x.npy", x.astype(dtype))
        images = load_source(str(tmp_path / "x.npy")).images[:, 0]
        assert torch.equal(images, torch.from_numpy((x >> 8).astype(np.uint8)))


def test_uint16_holding_8_bit_values_is_an_error(tmp_path):
    np.save(tmp_path / "x.npy", np.full((2, 8, 8), 200, np.uint16))  # scaled, every pixel would be 0
    with pytest.raises(DataError, match=r"x\.npy.*uint16.*0\.\.255"):
        load_source(str(tmp_path / "x.npy"))


def test_nan_and_inf_are_named(tmp_path):
    x = np.full((3, 8, 8), 0.5, np.float32)
    x[1, 2, 3] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"x\.npy.*1 NaN.*image 1"):
        load_source(str(tmp_path / "x.npy"))
    x[1, 2, 3] = np.inf
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"x\.npy.*inf"):
        load_source(str(tmp_path / "x.npy"))


def _npy_with_shape(shape: tuple, data: bytes) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


@pytest.mark.parametrize("shape", [(2_000_000, 80_000, 80_000), (2**32, 2**32, 4), (0, 8, 8), (3, 8, 8)])
def test_header_that_does_not_match_the_data_is_named(tmp_path, shape):
    (tmp_path / "x.npy").write_bytes(_npy_with_shape(shape, bytes(2 * 8 * 8)))
    with pytest.raises(DataError, match=r"x\.npy.*bytes"):
        load_source(str(tmp_path / "x.npy"))
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x.npy", _npy_with_shape(shape, bytes(2 * 8 * 8)))
    with pytest.raises(DataError, match=r"d\.npz \[x\].*bytes"):
        load_source(str(tmp_path / "d.npz"))


def test_damaged_header_dict_and_other_bytes_are_named(tmp_path):
    data = io.BytesIO()
    np.save(data, np.zeros((2, 8, 8), np.uint8))
    (tmp_path / "h.npy").write_bytes(data.getvalue().replace(b"8), }", b"8,(  "))  # numpy: tokenize.TokenError
    with pytest.raises(DataError, match=r"h\.npy: cannot read array file \(damaged \.npy header\)"):
        load_source(str(tmp_path / "h.npy"))
    (tmp_path / "g.npy").write_bytes(b"not numpy at all")  # np.load tries it as a pickle
    with pytest.raises(DataError, match=r"g\.npy: not a NumPy \.npy or \.npz file") as caught:
        load_source(str(tmp_path / "g.npy"))
    assert "allow_pickle" not in str(caught.value)


def test_damaged_compressed_member_is_named(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=RNG.integers(0, 256, (20, 8, 8), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[26:30])  # the first local file header
    data[30 + name_length + extra_length + 1] ^= 0xFF  # the deflate stream: zlib.error
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"d\.npz \[x\]: cannot read array"):
        load_source(str(path))
