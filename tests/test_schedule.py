"""Schedules chosen for the data: batch size and epochs of a run given none, stated, recorded in the
resolved configuration (so ``--resume`` gets them back), and the pace stated after the first epoch."""

import logging

import numpy as np
import pytest

import ssrl
from ssrl.config import UNTIL_BUDGET, RunConfig
from ssrl.pretext import get_method
from ssrl.resolve import choose_batch_size, choose_epochs, resolve


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    """1,000 random 8×8 grayscale images as .npy."""
    path = tmp_path_factory.mktemp("schedule") / "thousand.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (1000, 8, 8), dtype=np.uint8))
    return str(path)


def _notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ssrl"]


@pytest.mark.parametrize("n, batch", [(1000, 64), (1797, 128), (60000, 256), (4096, 256), (4095, 256),
                                      (2047, 128), (100, 16), (10, 10)])
def test_batch_size_is_the_largest_power_of_two_up_to_an_eighth_of_the_data(n, batch):
    assert choose_batch_size(n) == batch


def test_text_gets_at_most_the_text_modalitys_batch():
    from ssrl.modality import get_modality
    assert get_modality("text").largest_chosen_batch == 64
    assert choose_batch_size(5000, largest=64) == 64 and choose_batch_size(300, largest=64) == 32


def test_batch_size_on_several_processes_divides_among_them():
    assert choose_batch_size(1000, world=3) == 63 and choose_batch_size(1000, world=2) == 64


def test_epochs_cover_the_methods_steps_and_at_least_ten():
    assert choose_epochs(1000 // 64, 500) == 34        # 15 steps an epoch: ceil(500 / 15)
    assert choose_epochs(60000 // 256, 500) == 10      # 234 steps an epoch: 3 would do, 10 at least
    assert choose_epochs(15, 500, max_steps=200) == 14  # spans exactly the steps asked for
    assert choose_epochs(15, 500, budget="2m") == UNTIL_BUDGET   # the budget ends it
    assert choose_epochs(0, 500) == 500                 # a batch larger than the data: the engine refuses it


def test_run_config_leaves_the_schedule_to_the_data():
    cfg = RunConfig(data="x.npy")
    assert cfg.epochs is None and cfg.batch_size is None


def test_a_run_given_no_schedule_gets_one_for_its_data_and_says_so(thousand, caplog):
    with caplog.at_level(logging.INFO, logger="ssrl"):
        run = resolve(RunConfig(data=thousand, method="simclr"))
    assert (run.config.batch_size, run.config.epochs) == (64, 34)
    assert run.optimizer.lr == pytest.approx(get_method("simclr").optimizer.lr * 64 / 256)
    [line] = [m for m in _notices(caplog) if m.startswith("schedule:")]
    assert "1,000 images, batch 64 → 15 steps/epoch × 34 epochs = 510 steps" in line
    assert "simclr needs about 500" in line and "--epochs" in line and "--batch-size" in line


def test_resolving_the_resolved_configuration_gives_it_back_silently(thousand, caplog):
    first = resolve(RunConfig(data=thousand, method="simclr"))
    with caplog.at_level(logging.INFO, logger="ssrl"):
        again = resolve(first.config)
    assert again.config == first.config
    assert not [m for m in _notices(caplog) if m.startswith("schedule:")]


def test_given_values_are_kept_and_not_stated(thousand, caplog):
    with caplog.at_level(logging.INFO, logger="ssrl"):
        run = resolve(RunConfig(data=thousand, method="simclr", epochs=3, batch_size=32))
    assert (run.config.batch_size, run.config.epochs) == (32, 3)
    assert not [m for m in _notices(caplog) if m.startswith("schedule:")]


def test_max_steps_or_budget_choose_the_epochs(thousand, caplog):
    with caplog.at_level(logging.INFO, logger="ssrl"):
        steps = resolve(RunConfig(data=thousand, method="simclr", max_steps=200)).config
        budget = resolve(RunConfig(data=thousand, method="simclr", budget="2m")).config
        batch_given = resolve(RunConfig(data=thousand, method="simclr", batch_size=100)).config
        epochs_given = resolve(RunConfig(data=thousand, method="simclr", epochs=5)).config
    assert (steps.batch_size, steps.epochs) == (64, 14)
    assert (budget.batch_size, budget.epochs) == (64, UNTIL_BUDGET)
    assert (batch_given.batch_size, batch_given.epochs) == (100, 50)
    assert (epochs_given.batch_size, epochs_given.epochs) == (64, 5)
    lines = [m for m in _notices(caplog) if m.startswith("schedule:")]
    assert len(lines) == 4 and "--max-steps 200" in lines[0] and "until --budget 2m runs out" in lines[1]
    assert "needs about 500" in lines[3]  # 75 steps: fewer than the method needs


def test_the_methods_own_need_sets_the_epochs(thousand, monkeypatch):
    monkeypatch.setattr(get_method("rotation"), "min_steps", 300)
    assert resolve(RunConfig(data=thousand, method="rotation")).config.epochs == 20  # ceil(300 / 15)
    assert resolve(RunConfig(data=thousand, method="rotation", limit=200)).config.batch_size == 16


def test_the_pace_is_stated_after_the_first_epoch(tmp_path, caplog):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8))
    with caplog.at_level(logging.INFO, logger="ssrl"):
        ssrl.pretrain(str(tmp_path / "x.npy"), "rotation", out=tmp_path / "run", epochs=2, batch_size=16,
                      backbone="convnet-small", progress=False)
    [line] = [m for m in _notices(caplog) if m.startswith("epoch ")]
    assert line.startswith("epoch 1 of 2 took ") and "images/s" in line and "to go" in line


def test_images_given_no_method_get_simclr(thousand):
    from ssrl.resolve import method_name

    cfg = RunConfig(data=thousand)
    assert method_name(cfg) == "simclr" and resolve(cfg).config.method == "simclr"


@pytest.mark.parametrize("per_epoch, interval", [(234, 10), (40, 10), (15, 3), (3, 1), (0, 1)])
def test_short_epochs_log_about_four_rows_each(per_epoch, interval):
    from ssrl.resolve import log_interval

    assert log_interval(per_epoch) == interval


def test_the_log_interval_is_resolved_and_a_given_one_kept(thousand):
    assert resolve(RunConfig(data=thousand, method="simclr")).config.log_every_n_steps == 3  # 15 steps an epoch
    assert resolve(RunConfig(data=thousand, method="simclr", log_every_n_steps=7)).config.log_every_n_steps == 7
