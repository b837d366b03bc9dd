import numpy as np
import pytest
import torch

from ssrl.data import Source, load_labeled, load_source, stratified_split
from ssrl.errors import DataError
from tests.data.writers import write_image


def test_digits():
    source = load_source("digits")
    assert source.images.shape == (1797, 1, 8, 8) and source.images.dtype == torch.uint8
    assert source.labels.shape == (1797,) and int(source.images.max()) == 255
    assert load_source("digits", image_size=16).image_size == (16, 16)


def test_unknown_name_lists_known_names():
    with pytest.raises(DataError, match="no-such-set.*digits.*fashion-mnist.*cifar10"):
        load_source("no-such-set")


def test_stratified_split_proportions_and_determinism():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 2)
    rest, picked = stratified_split(labels, 0.2, seed=3)
    assert torch.bincount(labels[picked]).tolist() == [10, 6, 1]  # the rare class still gets one
    assert sorted(torch.cat([rest, picked]).tolist()) == list(range(82))
    assert torch.equal(picked, stratified_split(labels, 0.2, seed=3)[1])
    assert not torch.equal(picked, stratified_split(labels, 0.2, seed=4)[1])
    assert len(stratified_split(labels, 1.0, seed=0)[0]) == 0


def test_holdout_note_and_sizes():
    train, test, note = load_labeled("digits", holdout=0.25, seed=1)
    assert note == "test split: stratified 25% held out (seed 1)"
    assert len(train) + len(test) == 1797 and abs(len(test) - 449) <= 10


def test_test_spec_is_aligned_to_train(tmp_path):
    for c in ("cat", "dog"):
        write_image(tmp_path / "tr" / c / "0.png", "RGB", size=(12, 12))
    write_image(tmp_path / "te" / "dog" / "0.png", "L", size=(20, 20))
    train, test, note = load_labeled(str(tmp_path / "tr"), test_spec=str(tmp_path / "te"))
    assert note == f"test split: {tmp_path / 'te'}"
    assert test.labels.tolist() == [1]  # numbered as in train, not as the test folder's only class
    assert test.images.shape == (1, 3, 12, 12)


def test_source_subset_and_validation():
    source = Source(torch.zeros(4, 1, 5, 5, dtype=torch.uint8), torch.arange(4), "t")
    assert source.subset([]).images.shape == (0, 1, 5, 5)
    assert source.subset(slice(1, 3)).labels.tolist() == [1, 2]
    assert source.subset(torch.tensor([3])).image_size == (5, 5)
    with pytest.raises(DataError, match="t: images must be uint8"):
        Source(torch.zeros(4, 2, 5, 5), None, "t")


def test_unsupported_file(tmp_path):
    (tmp_path / "a.csv").write_text("1,2")
    with pytest.raises(DataError, match="a.csv: unsupported"):
        load_source(str(tmp_path / "a.csv"))
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(DataError, match="no labels"):
        load_labeled(str(tmp_path / "x.npy"))
