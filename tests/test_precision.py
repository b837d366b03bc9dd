"""``--precision auto``: bf16 where the device has it natively and the method was checked, float32
otherwise, stated and recorded; ``in_float32`` keeps sensitive computations out of autocast."""

import logging

import numpy as np
import pytest
import torch

import ssrl.precision as precision
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.precision import autocast_for, choose_precision, cpu_bf16_flags, in_float32
from ssrl.pretext import get_method
from ssrl.resolve import resolve


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert set(cpu_bf16_flags(str(info))) == {"amx_bf16", "avx512_bf16"}
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_bf16_flags(str(info) + "x") == ()           # no such file (not Linux)
    cpu_bf16_flags.cache_clear()
    assert cpu_bf16_flags(str(info)) == ()


@pytest.fixture
def native(monkeypatch):
    """Pretend the device has (True) or lacks (False) native bfloat16."""
    def set_native(value: bool):
        monkeypatch.setattr(precision, "native_bf16", lambda accelerator: (value, "test device"))
    return set_native


def test_auto_is_bf16_only_on_native_hardware_for_checked_methods(native):
    native(True)
    assert choose_precision("auto", "cpu", "simclr", bf16_checked=True)[0] == "bf16-mixed"
    chosen, why = choose_precision("auto", "cpu", "byol", bf16_checked=False)
    assert chosen == "32-true" and "byol has not been checked" in why and "--precision bf16-mixed" in why
    native(False)
    chosen, why = choose_precision("auto", "cpu", "simclr", bf16_checked=True)
    assert chosen == "32-true" and "no native bfloat16" in why
    assert choose_precision("bf16-mixed", "cpu", "byol", bf16_checked=False) == ("bf16-mixed", "as given")
    with pytest.raises(SsrlError, match="--precision 'fp8'"):
        choose_precision("fp8", "cpu", "simclr", True)


def test_resolve_records_the_chosen_precision_and_says_why(native, tmp_path, caplog, monkeypatch):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8))
    monkeypatch.setattr(get_method("simclr"), "bf16_checked", True)
    native(True)
    with caplog.at_level(logging.INFO, logger="ssrl"):
        run = resolve(RunConfig(data=str(path), method="simclr", epochs=1, batch_size=16))
    assert run.config.precision == "bf16-mixed"
    assert "precision: bf16-mixed (auto: test device)" in [r.getMessage() for r in caplog.records]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ssrl"):
        assert resolve(run.config).config.precision == "bf16-mixed"  # --resume keeps it, silently
        given = resolve(RunConfig(data=str(path), method="simclr", epochs=1, batch_size=16, precision="32-true"))
    assert given.config.precision == "32-true"
    assert not [r for r in caplog.records if r.getMessage().startswith("precision")]


def test_in_float32_turns_autocast_off_and_upcasts():
    @in_float32
    def gram(a, pair):
        return a @ a.T, pair[0].dtype, torch.is_autocast_enabled("cpu")

    x = torch.randn(4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g, pair_dtype, enabled = gram(x.bfloat16(), (x.bfloat16(), x))
    assert g.dtype == torch.float32 and pair_dtype == torch.float32 and not enabled
    assert torch.is_autocast_enabled("cpu") is False
    assert gram(x.double(), (x,))[0].dtype == torch.float64


def test_autocast_for_follows_the_runs_precision():
    with autocast_for("cpu", "bf16-mixed"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_for("cpu", "32-true"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
