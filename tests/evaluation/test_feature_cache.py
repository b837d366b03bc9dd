"""Features kept between evaluations (``RUN/features/``): a second evaluation reads them back and
gives the same result, anything they depend on changed gives other files, a damaged file is
computed again."""

import logging

import numpy as np
import pytest
import torch

import ssrl
from ssrl.evaluation.feature_cache import fingerprint
from ssrl.runs import init_backbone, run_config


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (120, 12, 12), dtype=np.uint8)
    y = np.arange(120) % 3
    np.savez(root / "three.npz", x=x, y=y)
    run = ssrl.pretrain(str(root / "three.npz"), "rotation", out=root / "run", max_steps=2, batch_size=32,
                        progress=False)
    return run, str(root / "three.npz")


def _from_cache(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ssrl" and "from the cache" in r.getMessage()]


def test_a_second_evaluation_reads_the_features_back_and_gives_the_same_result(run_and_data, caplog):
    run, data = run_and_data
    with caplog.at_level(logging.INFO, logger="ssrl"):
        first = ssrl.evaluate(run, data, "linear", save=False)
        assert not _from_cache(caplog)
        files = sorted((run / "features").glob("*.npy"))
        second = ssrl.evaluate(run, data, "linear", save=False)
    assert len(files) == 4  # train and test rows, pretrained and random init
    assert len(_from_cache(caplog)) == 4 and sorted((run / "features").glob("*.npy")) == files
    assert first == second
    assert ssrl.evaluate(run, data, "knn", save=False)["n_test"] == first["n_test"]  # kNN reuses them too
    assert sorted((run / "features").glob("*.npy")) == files


def test_what_the_features_depend_on_changes_the_fingerprint(run_and_data):
    run, _ = run_and_data
    backbone = init_backbone(run_config(run))
    rows = torch.zeros(4, 1, 12, 12, dtype=torch.uint8)
    key = fingerprint(backbone, rows, "32-true", False)
    assert fingerprint(backbone, rows.clone(), "32-true", False) == key
    assert fingerprint(backbone, rows + 1, "32-true", False) != key
    assert fingerprint(backbone, rows, "bf16-mixed", False) != key
    assert fingerprint(backbone, rows, "32-true", True) != key
    with torch.no_grad():
        next(backbone.parameters()).add_(1e-6)
    assert fingerprint(backbone, rows, "32-true", False) != key


def test_a_damaged_cache_file_is_computed_again(run_and_data, caplog):
    run, data = run_and_data
    first = ssrl.evaluate(run, data, "linear", save=False)
    for path in (run / "features").glob("*.npy"):
        path.write_bytes(b"not an array")
    with caplog.at_level(logging.INFO, logger="ssrl"):
        again = ssrl.evaluate(run, data, "linear", save=False)
    assert again == first and not _from_cache(caplog)
