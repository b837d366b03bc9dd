"""``--compile``: the default's choice, and a compiled run that trains, resumes and saves like an eager one."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ssrl import compiled
from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.compiled import MIN_BUDGET_S, MIN_STEPS, choose_compile
from ssrl.pretext import METHODS, method_config
from ssrl.views import Views
from tests.test_engine import KillAtEpoch, Killed


def test_given_choice_is_kept():
    assert choose_compile(True, "cpu", "rotation", checked=False, planned_steps=5, budget_s=None)[0] is True
    assert choose_compile(False, "cpu", "simclr", checked=True, planned_steps=10**6, budget_s=None)[0] is False


def test_default_compiles_only_long_runs_of_checked_methods(monkeypatch):
    monkeypatch.setattr(compiled, "toolchain", lambda accelerator: (True, ""))
    assert choose_compile(None, "cpu", "simclr", True, MIN_STEPS, None) == (True, "a long run of a checked method")
    short, why = choose_compile(None, "cpu", "simclr", True, MIN_STEPS - 1, None)
    assert not short and "would not pay" in why
    unchecked, why = choose_compile(None, "cpu", "rotation", False, 10**6, None)
    assert not unchecked and "rotation has not been checked" in why
    assert choose_compile(None, "cpu", "simclr", True, 10**6, MIN_BUDGET_S - 1)[0] is False  # a short budget
    assert choose_compile(None, "cpu", "simclr", True, 10**6, MIN_BUDGET_S)[0] is True


def test_default_does_not_compile_without_a_cpp_compiler(monkeypatch):
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    chosen, why = choose_compile(None, "cpu", "simclr", True, 10**6, None)
    assert not chosen and "no C++ compiler" in why


def test_every_compile_checked_method_has_its_bf16_and_float32_losses_unchanged_by_compiling():
    # The check behind compile_checked: the compiled modules compute the eager loss.
    for name in [n for n, cls in METHODS.items() if cls.compile_checked]:
        cls = METHODS[name]
        torch.manual_seed(0)
        method = cls(build_backbone("convnet-small", 1, 16, seed=0), method_config(name, {}), Views(cls.default_views()))
        inputs, z = method.pseudolabels(torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
        eager = method.loss(inputs, z)[0]
        method.backbone.compile()
        method.head.compile()
        torch.testing.assert_close(method.loss(inputs, z)[0], eager, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_killed_compiled_run_resumes_to_the_same_weights_in_the_eager_format(tmp_path):
    path = tmp_path / "tiny.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (64, 12, 12), dtype=np.uint8))
    tiny = dict(epochs=2, batch_size=32, backbone="convnet-small", log_every_n_steps=1, compile=True)
    whole = load_file(pretrain(str(path), "simclr", out=tmp_path / "whole", **tiny) / "backbone.safetensors")
    with pytest.raises(Killed):
        pretrain(str(path), "simclr", out=tmp_path / "killed", callbacks=(KillAtEpoch(1),), **tiny)
    ckpt = torch.load(tmp_path / "killed/checkpoints/last.ckpt", weights_only=False)
    assert not any("_orig_mod" in k for k in ckpt["state_dict"])  # the eager module's keys
    resumed = load_file(pretrain(out=tmp_path / "killed", resume=True) / "backbone.safetensors")
    assert resumed.keys() == build_backbone("convnet-small", 1, 12).state_dict().keys()
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], rtol=0, atol=1e-6)
