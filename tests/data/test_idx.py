import gzip

import numpy as np
import pytest
import torch

from ssrl.data import load_labeled, load_source
from ssrl.data.idx import read_idx
from ssrl.errors import DataError
from tests.data.writers import write_idx, write_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_folder_round_trip_both_splits(tmp_path, gz):
    x, y = write_mnist(tmp_path, gz=gz)
    train = load_source(str(tmp_path))
    assert train.images.shape == (20, 1, 6, 6) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0], torch.from_numpy(x))
    assert torch.equal(train.labels, torch.from_numpy(y).long())
    assert load_source(str(tmp_path), split="test").images.shape == (10, 1, 6, 6)


def test_file_spec_reads_sibling_labels_and_own_split(tmp_path):
    x, y = write_mnist(tmp_path)
    train, test, note = load_labeled(str(tmp_path / "train-images-idx3-ubyte.gz"))
    assert torch.equal(train.labels, torch.from_numpy(y).long())
    assert len(test) == 10
    assert note == "test split: the data set's own (t10k files)"


def test_images_file_without_labels_is_unlabeled(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 5, 5), np.uint8))
    source = load_source(str(tmp_path / "train-images-idx3-ubyte"))
    assert source.labels is None and source.image_size == (5, 5)
    with pytest.raises(DataError, match="no labels"):
        load_labeled(str(tmp_path / "train-images-idx3-ubyte"))


def test_image_size_resizes(tmp_path):
    write_mnist(tmp_path, size=6)
    assert load_source(str(tmp_path), image_size=12).image_size == (12, 12)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file_names_the_file(tmp_path, gz):
    path = write_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")), np.zeros((4, 5, 5), np.uint8))
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    path.write_bytes(gzip.compress(raw[:-7]) if gz else raw[:-7])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        read_idx(path)


def test_cut_gzip_stream_names_the_file(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((40, 9, 9), np.uint8))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_source(str(path))


def test_bad_magic_and_dtype(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x12\x34\x08\x03" + bytes(20))
    with pytest.raises(DataError, match="magic"):
        load_source(str(tmp_path / "train-images-idx3-ubyte"))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x01" + (1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(DataError, match="0x0d"):
        load_source(str(tmp_path / "train-images-idx3-ubyte"))


def test_label_count_mismatch(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 5, 5), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_source(str(tmp_path))


@pytest.mark.slow
def test_real_fashion_mnist():
    folder = "/work/shared/datasets/fashion-mnist"
    train, test, note = load_labeled(folder)
    assert train.images.shape == (60000, 1, 28, 28) and len(test) == 10000
    assert sorted(train.labels.unique().tolist()) == list(range(10))
    assert "t10k" in note


def test_dimensions_that_overflow_int64_are_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    for dims in [(2**31, 2**31, 4), (2**16, 2**16, 2**16, 2**16)]:  # products wrap to 0 in int64
        path.write_bytes(bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims))
        with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated"):
            read_idx(path)


def test_file_with_no_values_is_named(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((0, 5, 5), np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: IDX file holds no values"):
        load_source(str(path))
