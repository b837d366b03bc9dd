"""``ssrl export``: every exported file reloads with the plain library (torchvision / torch,
safetensors, onnxruntime) and gives the features of ``load_backbone(run)`` on new inputs, at a
batch size other than the one traced (the batch axis is dynamic)."""

import json

import numpy as np
import onnxruntime
import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from ssrl.backbones import build_backbone
from ssrl.cli import app
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.export import export
from ssrl.runs import init_backbone, load_backbone, save_backbone

SIZE, CHANNELS = 16, 1


def make_run(run_dir, backbone: str):
    """A finished run's directory without training: the backbone at its init, with BN running
    statistics moved off their defaults so that an export which dropped them would show."""
    cfg = RunConfig(data="unused.npz", method="rotation", backbone=backbone, epochs=1, modality="image",
                    image_size=SIZE, in_channels=CHANNELS)
    net = init_backbone(cfg)
    with torch.no_grad():
        net.train()(torch.rand(8, CHANNELS, SIZE, SIZE) * 3 + 1)
    run_dir.mkdir()
    cfg.to_yaml(run_dir / "config.yaml")
    save_backbone(net, cfg, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {name: make_run(root / name, name) for name in ("convnet-small", "resnet18", "vit-mini")}


@pytest.fixture(params=["convnet-small", "resnet18", "vit-mini"])
def run(request, runs):
    return runs[request.param]


@pytest.fixture
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


@pytest.mark.parametrize("backbone", ["convnet-small", "vit-mini"])  # a ResNet is convolutions too: left out for time
def test_onnx_format_runs_in_onnxruntime_with_any_batch(runs, backbone):
    run = runs[backbone]
    x = torch.rand(5, CHANNELS, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = load_backbone(run)(x)
    path = export(run, "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    for n in (1, 5):
        (features,) = session.run(["features"], {"images": x[:n].numpy()})
        np.testing.assert_allclose(features, expected[:n].numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("method, backbone", [("masked_lm", "text-encoder-mini"), ("word2vec", "word-embeddings-100")])
def test_text_backbone_exports_with_dynamic_batch_and_length(tmp_path, method, backbone):
    """Token ids in, pooled features out, for any batch and any length up to max_tokens; padded
    positions change nothing (the export drops forward's padding trim, see PooledTokens)."""
    cfg = RunConfig(data="unused.txt", method=method, backbone=backbone, epochs=1,
                    modality="text", vocab_size=50, max_tokens=12)
    run = tmp_path / "run"
    run.mkdir()
    cfg.to_yaml(run / "config.yaml")
    save_backbone(init_backbone(cfg), cfg, run)
    (run / "tokenizer.json").write_text('{"model": "stands in for the run tokenizer"}')
    ids = torch.randint(1, 50, (3, 12), generator=torch.Generator().manual_seed(0))
    ids[0, 4:], ids[2, 9:] = 0, 0
    with torch.no_grad():
        expected = load_backbone(run)(ids)
    program = torch.export.load(export(run, "torchvision")).module()
    path = export(run, "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        torch.testing.assert_close(program(ids), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(program(ids[:1, :6]), expected[:1], rtol=1e-4, atol=1e-5)  # shorter padding
    (features,) = session.run(["features"], {"ids": ids.numpy()})
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-3, atol=1e-4)
    spec = json.loads(path.with_name(path.name + ".json").read_text())
    assert spec["input"].startswith("int64 token ids") and spec["tokenizer"] == "backbone.onnx.tokenizer.json"
    assert (path.parent / spec["tokenizer"]).read_text() == (run / "tokenizer.json").read_text()


def test_bad_format_or_suffix_is_refused(tmp_path):
    run = make_run(tmp_path / "run", "convnet-small")
    with pytest.raises(SsrlError, match="unknown export format 'keras'.*torchvision, safetensors, onnx"):
        export(run, "keras")
    with pytest.raises(SsrlError, match=r"h\.onnx: the torchvision export of a convnet-small backbone is a \.pt2 file"):
        export(run, "torchvision", tmp_path / "h.onnx")
    with pytest.raises(SsrlError, match="not a run directory"):
        export(tmp_path, "onnx")


def test_cli_export_and_report(tmp_path):
    run = make_run(tmp_path / "run", "convnet-small")
    result = CliRunner().invoke(app, ["export", str(run), "--format", "safetensors"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {run / 'export' / 'backbone.safetensors'}"
    assert (run / "export" / "backbone.safetensors.json").is_file()
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0 and result.output.strip() == f"wrote {run / 'report.html'}", result.output
