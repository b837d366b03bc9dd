"""Loggers beside metrics.csv (``--logger``): TensorBoard's event files are written into the run and
read back with TensorBoard's own reader; an unknown or missing logger is refused before training."""

import numpy as np
import pytest

from ssrl.api import pretrain
from ssrl.errors import SsrlError
from ssrl.run_files import extra_loggers


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("loggers") / "grey.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8))
    return str(path)


def test_tensorboard_event_files_hold_the_logged_losses(data, tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                      reason="tensorboard is in the [loggers] and [test] extras")
    run = pretrain(data, "simclr", out=tmp_path / "run", epochs=2, batch_size=16, loggers=["tensorboard"],
                   progress=False)
    events = accumulator.EventAccumulator(str(run / "tensorboard")).Reload()
    steps = [e.step for e in events.Scalars("loss_step")]
    assert steps and steps == sorted(steps)
    assert "loss_step" in (run / "metrics.csv").read_text().splitlines()[0]  # the CSV is still written


def test_an_unknown_logger_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(SsrlError, match="--logger neptune: not a logger .*tensorboard, wandb, mlflow"):
        extra_loggers(tmp_path, ["neptune"])


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_a_logger_whose_package_is_missing_is_refused_saying_what_to_install(tmp_path, name):
    try:
        __import__(name)
    except ImportError:
        with pytest.raises(SsrlError, match=f"--logger {name}: {name} is not installed"):
            extra_loggers(tmp_path, [name])
    else:  # installed: it is made, writing into the run directory
        assert len(extra_loggers(tmp_path, [name])) == 1
