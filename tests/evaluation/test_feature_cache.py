"""Features kept between evaluations (``RUN/features/``): a second evaluation reads them back and
gives the same result, anything they depend on changed gives other files, a damaged file is
computed again."""

import logging
import os

import numpy as np
import pytest
import torch

import ssrl
from ssrl.evaluation import feature_cache
from ssrl.evaluation.feature_cache import fingerprint, shared_floors
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
        files = sorted((run / "features").glob("*.npy")) + sorted(shared_floors().glob("*.npy"))
        second = ssrl.evaluate(run, data, "linear", save=False)
    assert len(files) == 4  # train and test rows, pretrained (the run's) and random init (shared)
    assert len(_from_cache(caplog)) == 4
    assert sorted((run / "features").glob("*.npy")) + sorted(shared_floors().glob("*.npy")) == files
    assert first == second
    assert ssrl.evaluate(run, data, "knn", save=False)["n_test"] == first["n_test"]  # kNN reuses them too
    assert len(list((run / "features").glob("*.npy"))) == 2


def test_another_run_from_the_same_init_reads_the_shared_floor(run_and_data, tmp_path, caplog):
    run, data = run_and_data
    first = ssrl.evaluate(run, data, "knn", save=False)
    other = ssrl.pretrain(data, "rotation", out=tmp_path / "other", max_steps=3, batch_size=32, progress=False)
    with caplog.at_level(logging.INFO, logger="ssrl"):
        second = ssrl.evaluate(other, data, "knn", save=False)
    hits = _from_cache(caplog)
    assert len(hits) == 2 and all(str(shared_floors()) in h for h in hits)  # the floor's, not the run's own
    assert second["random_init_top1"] == first["random_init_top1"]
    assert len(list((other / "features").glob("*.npy"))) == 2  # its own pretrained features


def test_a_cache_folder_keeps_its_most_recently_used_files(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_cache, "KEEP", 2)
    for i, key in enumerate("ab"):
        feature_cache.store(tmp_path, key, torch.zeros(3, 2))
        os.utime(tmp_path / f"{key}.npy", (1000 + i, 1000 + i))  # a stored first, then b
    assert feature_cache.load(tmp_path, "a", 3) is not None  # a used since: b is the least recently used
    feature_cache.store(tmp_path, "c", torch.zeros(3, 2))
    assert sorted(p.stem for p in tmp_path.glob("*.npy")) == ["a", "c"]


def test_the_shared_folder_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("SSRL_CACHE_DIR", "off")
    assert shared_floors() is None


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
    for path in [*(run / "features").glob("*.npy"), *shared_floors().glob("*.npy")]:
        path.write_bytes(b"not an array")
    with caplog.at_level(logging.INFO, logger="ssrl"):
        again = ssrl.evaluate(run, data, "linear", save=False)
    assert again == first and not _from_cache(caplog)


def test_a_folder_that_cannot_be_written_costs_no_result(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    with caplog.at_level(logging.INFO, logger="ssrl"):
        feature_cache.store(blocked / "floors", "a", torch.zeros(3, 2))
    assert any("features not kept" in r.getMessage() for r in caplog.records)


def test_with_the_shared_folder_off_the_floor_is_kept_in_the_run(run_and_data, monkeypatch):
    run, data = run_and_data
    monkeypatch.setenv("SSRL_CACHE_DIR", "off")
    for path in (run / "features").glob("*.npy"):
        path.unlink()
    ssrl.evaluate(run, data, "knn", save=False)
    assert len(list((run / "features").glob("*.npy"))) == 4  # train and test rows, pretrained and random init
