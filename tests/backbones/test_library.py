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


def _published_resnet18(torch_home) -> dict:
    """A stand-in for torchvision's published resnet18 weights, put where torchvision's cache keeps
    the download (``$TORCH_HOME/hub/checkpoints/``), so ``weights="DEFAULT"`` reads it offline."""
    from torchvision import models

    torch.manual_seed(7)
    state = models.resnet18().state_dict()
    url = models.ResNet18_Weights.DEFAULT.url
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / url.rsplit("/", 1)[1])
    return state


def test_init_pretrained_starts_from_the_published_weights_and_compares_with_them(data, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    published = _published_resnet18(tmp_path / "torch")
    run = ssrl.pretrain(data, "simclr", backbone="torchvision:resnet18", init="pretrained", out=tmp_path / "run",
                        **QUICK)
    start = ssrl.runs.init_backbone(ssrl.runs.run_config(run))
    grey = published["conv1.weight"].sum(dim=1, keepdim=True)  # the RGB filters summed for one channel
    torch.testing.assert_close(start.conv1.weight, grey)
    torch.testing.assert_close(start.layer4[1].bn2.weight, published["layer4.1.bn2.weight"])
    result = ssrl.evaluate(run, data, "knn", save=False)
    assert result["floor"] == "torchvision:resnet18's published weights (the run's start)"


def test_init_pretrained_says_what_it_needs(data, tmp_path, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(SsrlError, match="cannot get the published weights of torchvision:resnet18 .*URLError.*"
                                        "needs the network the first time"):
        ssrl.pretrain(data, "simclr", backbone="torchvision:resnet18", init="pretrained", out=tmp_path / "r", **QUICK)
    with pytest.raises(SsrlError, match="backbone convnet-small has no published weights"):
        ssrl.pretrain(data, "simclr", backbone="convnet-small", init="pretrained", out=tmp_path / "r2", **QUICK)
    with pytest.raises(SsrlError, match="--init 'imagenet': choose random or pretrained"):
        ssrl.pretrain(data, "simclr", init="imagenet", out=tmp_path / "r3", **QUICK)
