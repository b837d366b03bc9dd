"""Backbones of timm and torchvision by name (``ssrl.backbones.library``): built for the run's
channels and size, trained, reloaded in a new process from the run's record, and exported in a
form the library loads."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ssrl
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.export import export

QUICK = dict(max_steps=2, batch_size=16, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("library") / "grey.npz"
    np.savez(path, x=rng.integers(0, 256, (64, 32, 32), dtype=np.uint8), y=np.arange(64) % 2)
    return str(path)


@pytest.mark.parametrize("name, dim", [("torchvision:resnet18", 512), ("timm:resnet18", 512),
                                       ("timm:vit_tiny_patch16_224", 192)])
def test_library_models_return_features_of_the_probed_width(name, dim):
    if name.startswith("timm:"):
        pytest.importorskip("timm", reason="timm is in the [timm] and [test] extras")
    net, again = build_backbone(name, 1, 32, seed=0), build_backbone(name, 1, 32, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    assert net.dim == dim and net(torch.rand(3, 1, 32, 32)).shape == (3, dim)


def test_unknown_names_say_where_to_look():
    with pytest.raises(SsrlError, match="torchvision has no model 'resnet7'"):
        build_backbone("torchvision:resnet7", 3, 32)
    with pytest.raises(SsrlError, match="or timm:NAME, torchvision:NAME"):
        build_backbone("resnet7", 3, 32)


def test_a_timm_backbone_trains_reloads_in_a_new_process_and_exports_for_timm(data, tmp_path):
    timm = pytest.importorskip("timm", reason="timm is in the [timm] and [test] extras")
    run = ssrl.pretrain(data, "simclr", backbone="timm:resnet18", out=tmp_path / "run", **QUICK)
    code = (f"import ssrl, json; r = ssrl.evaluate({str(run)!r}, {data!r}, 'knn', save=False); "
            "print(json.dumps([r['top1'], r['dim']]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])[1] == 512
    path = export(run, "safetensors")
    net = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=1)
    net.load_state_dict(load_file(path))
    x = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(net.eval()(x), ssrl.load_backbone(run).eval()(x))


def test_a_torchvision_backbone_exports_as_a_program_and_its_state_loads_into_torchvision(data, tmp_path):
    from torchvision import models

    run = ssrl.pretrain(data, "rotation", backbone="torchvision:resnet18", out=tmp_path / "run", **QUICK)
    program = torch.export.load(export(run, "torchvision")).module()
    net = models.resnet18()
    net.conv1, net.fc = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False), torch.nn.Identity()
    net.load_state_dict(load_file(export(run, "safetensors")))
    x = torch.rand(2, 1, 32, 32)
    expected = ssrl.load_backbone(run).eval()(x)
    torch.testing.assert_close(program(x), expected)
    torch.testing.assert_close(net.eval()(x), expected)
