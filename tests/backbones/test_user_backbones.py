"""A user's own backbone: an ``nn.Module`` passed to ``pretrain`` (its width probed, this process
only), and a factory declared under the ``ssrl.backbones`` entry point (any process)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import ssrl
from ssrl.errors import SsrlError
from ssrl.export import export

QUICK = dict(max_steps=2, batch_size=16, progress=False)
USER_MODULE = '''
from torch import nn

def make(in_channels, image_size):
    net = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net.dim = 8
    return net
'''


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("user") / "grey.npz"
    np.savez(path, x=rng.integers(0, 256, (64, 16, 16), dtype=np.uint8), y=np.arange(64) % 2)
    return str(path)


def test_an_nn_module_without_dim_trains_and_evaluates_in_this_process(data, tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    start = {k: v.clone() for k, v in net.state_dict().items()}
    run = ssrl.pretrain(data, "simclr", backbone=net, out=tmp_path / "run", **QUICK)
    assert all(torch.equal(v, start[k]) for k, v in net.state_dict().items())  # the user's module is not trained
    result = ssrl.evaluate(run, data, "knn", save=False)
    assert result["dim"] == 6
    trained = ssrl.load_backbone(run)
    net.load_state_dict(load_file(export(run, "safetensors")))  # the export loads into the user's own class
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(net.eval()(x), trained.eval()(x))
    code = f"import ssrl; ssrl.evaluate({str(run)!r}, {data!r}, 'knn', save=False)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "pass backbone= the module again" in done.stderr


def test_a_factory_under_the_entry_point_reloads_in_any_process(data, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "user_backbones-0.1.dist-info").mkdir(parents=True)
    (site / "user_backbones.py").write_text(textwrap.dedent(USER_MODULE))
    (site / "user_backbones-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: user-backbones\n"
                                                                    "Version: 0.1\n")
    (site / "user_backbones-0.1.dist-info" / "entry_points.txt").write_text(
        "[ssrl.backbones]\ntiny-user-net = user_backbones:make\n")
    monkeypatch.syspath_prepend(str(site))
    run = ssrl.pretrain(data, "simclr", backbone="tiny-user-net", out=tmp_path / "run", **QUICK)
    code = (f"import ssrl, json; print(json.dumps(ssrl.evaluate({str(run)!r}, {data!r}, 'knn', save=False)['dim']))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == 8
    program = torch.export.load(export(run, "torchvision")).module()  # a program: no ssrl needed to run it
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(program(x), ssrl.load_backbone(run).eval()(x))


def test_a_module_that_does_not_return_features_is_refused(data, tmp_path):
    with pytest.raises(SsrlError, match=r"returns \(2, 4, 16, 16\) for a batch of images"):
        ssrl.pretrain(data, "simclr", backbone=nn.Conv2d(1, 4, 3, padding=1), out=tmp_path / "run", **QUICK)
