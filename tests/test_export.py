"""``ssrl export``: every exported file reloads with the plain library (torchvision / torch,
safetensors, onnxruntime) and gives the features of ``load_backbone(run)`` on new inputs, at a
batch size other than the one traced (the batch axis is dynamic)."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from ssrl.backbones import build_backbone
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.export import export
from ssrl.runs import init_backbone, load_backbone, save_backbone

SIZE, CHANNELS = 16, 1


def make_run(run_dir, backbone: str):
    """A finished run's directory without training: the backbone at its init, with BN running
    statistics moved off their defaults so that an export which dropped them would show."""
    cfg = RunConfig(data="unused.npz", method="rotation", backbone=backbone, epochs=1,
                    image_size=SIZE, in_channels=CHANNELS)
    net = init_backbone(cfg)
    with torch.no_grad():
        net.train()(torch.rand(8, CHANNELS, SIZE, SIZE) * 3 + 1)
    run_dir.mkdir()
    cfg.to_yaml(run_dir / "config.yaml")
    save_backbone(net, cfg, run_dir)
    return run_dir


@pytest.fixture(scope="module", params=["convnet-small", "resnet18", "vit-mini"])
def run(request, tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / request.param, request.param)


@pytest.fixture(scope="module")
def x_and_features(run):
    x = torch.rand(5, CHANNELS, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return x, load_backbone(run)(x)


def plain_resnet18(spec: dict) -> nn.Module:
    """The module the export's recipe describes, built with torchvision alone."""
    net = torchvision.models.resnet18()
    net.conv1 = nn.Conv2d(spec["in_channels"], 64, 3, 1, 1, bias=False)  # the small-image stem (≤ 64 px)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net


def test_torchvision_format_reloads_without_ssrl(run, x_and_features):
    x, expected = x_and_features
    path = export(run, "torchvision")
    spec = json.loads(path.with_name(path.name + ".json").read_text())
    if spec["backbone"] == "resnet18":
        assert path.suffix == ".pth" and "torchvision.models.resnet18()" in spec["load"]
        net = plain_resnet18(spec)
        net.load_state_dict(torch.load(path, weights_only=True))
        net.eval()
    else:
        assert path.suffix == ".pt2"
        net = torch.export.load(path).module()
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected, rtol=1e-4, atol=1e-5)


def test_safetensors_format_holds_weights_and_what_rebuilds_them(run, x_and_features):
    x, expected = x_and_features
    path = export(run, "safetensors", run / "out" / "h.safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["backbone"] == run.name and meta["dim"] == str(expected.shape[1])
    assert (meta["in_channels"], meta["image_size"]) == (str(CHANNELS), str(SIZE))
    if meta["backbone"] == "resnet18":
        net = plain_resnet18({"in_channels": int(meta["in_channels"])})
    else:  # no torchvision class for these: the header names the ssrl backbone
        net = build_backbone(meta["backbone"], int(meta["in_channels"]), int(meta["image_size"]))
    net.load_state_dict(load_file(path))
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), expected, rtol=1e-4, atol=1e-5)


def test_onnx_format_runs_in_onnxruntime_with_any_batch(run, x_and_features):
    x, expected = x_and_features
    path = export(run, "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    for n in (1, 5):
        (features,) = session.run(["features"], {"images": x[:n].numpy()})
        np.testing.assert_allclose(features, expected[:n].numpy(), rtol=1e-3, atol=1e-4)


def test_bad_format_or_suffix_is_refused(tmp_path):
    run = make_run(tmp_path / "run", "convnet-small")
    with pytest.raises(SsrlError, match="unknown export format 'keras'.*torchvision, safetensors, onnx"):
        export(run, "keras")
    with pytest.raises(SsrlError, match=r"h\.onnx: the torchvision export of a convnet-small backbone is a \.pt2 file"):
        export(run, "torchvision", tmp_path / "h.onnx")
    with pytest.raises(SsrlError, match="not a run directory"):
        export(tmp_path, "onnx")


def test_cli_export(tmp_path):
    run = make_run(tmp_path / "run", "convnet-small")
    result = subprocess.run([sys.executable, "-m", "ssrl", "export", str(run), "--format", "safetensors"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {run / 'export' / 'backbone.safetensors'}"
    assert (run / "export" / "backbone.safetensors.json").is_file()
