import numpy as np
import pytest

from ssrl.data import load_source, named
from ssrl.errors import DataError
from tests.data.writers import write_mnist


def test_mnist_from_ssrl_data_dir(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist", n_train=12)
    monkeypatch.setenv("SSRL_DATA_DIR", str(tmp_path))
    source = load_source("mnist")
    assert source.images.shape == (12, 1, 6, 6) and source.classes[0] == "0" and source.name == "mnist"


def test_missing_files_and_no_download_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("SSRL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(named, "search_dirs", lambda name: [tmp_path / name])

    def offline(name, **kwargs):
        raise DataError(f"{name}: download failed (no network)")

    monkeypatch.setattr(named, "_torchvision", offline)
    with pytest.raises(DataError, match=f"mnist: IDX files not found in {tmp_path}.*SSRL_DATA_DIR"):
        load_source("mnist")


class _FakeSet:
    """Stands in for a downloaded torchvision data set: the attributes the loader reads."""

    def __init__(self, data, targets=None, labels=None, classes=None):
        self.data, self.targets, self.labels = data, targets, labels
        if classes:
            self.classes = classes


def test_torchvision_sets_become_uint8_nchw(monkeypatch):
    fakes = {
        "cifar10": _FakeSet(np.zeros((3, 32, 32, 3), np.uint8), targets=[0, 1, 2], classes=list("abcdefghij")),
        "svhn": _FakeSet(np.zeros((2, 3, 32, 32), np.uint8), labels=np.array([4, 7])),
        "stl10": _FakeSet(np.zeros((2, 3, 96, 96), np.uint8), labels=np.array([-1, -1]), classes=list("abcdefghij")),
    }
    monkeypatch.setattr(named, "_torchvision", lambda name, **kw: fakes[name])
    cifar = load_source("cifar10")
    assert cifar.images.shape == (3, 3, 32, 32) and cifar.labels.tolist() == [0, 1, 2] and cifar.classes[0] == "a"
    assert load_source("svhn", split="test").labels.tolist() == [4, 7]
    assert load_source("stl10", split="unlabeled").labels is None
    assert load_source("cifar10", image_size=16).image_size == (16, 16)
    with pytest.raises(DataError, match="svhn: unknown split 'val'"):
        load_source("svhn", split="val")
