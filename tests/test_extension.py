"""The extension points are real: a modality, a backbone and a method defined in this file alone
(no edit to ``ssrl``) run through ``pretrain``, ``evaluate`` and ``embed``.

The toy modality is "points": float vectors (N, D) in an ``.npz`` with x_train/y_train/x_test/
y_test; the toy method is a denoising autoencoder on them (P: x + noise -> x).
"""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import ssrl
from ssrl.backbones import BACKBONES
from ssrl.errors import SsrlError
from ssrl.modality import MODALITIES, Modality, Rows, SourceRows
from ssrl.pretext import METHODS, OptimizerDefaults, Pretext
from ssrl.resolve import resolve
from ssrl.runs import run_config


def _read(path: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(path) as f:
        return torch.from_numpy(f[f"x_{split}"]).float(), torch.from_numpy(f[f"y_{split}"]).long()


class Points(Modality):
    name = "points"
    default_backbone = "toy-mlp"
    unit = "points"

    def claims(self, spec: str) -> bool:
        return str(spec).endswith(".points.npz")

    def load_source(self, cfg, run_dir=None) -> SourceRows:
        x, y = _read(cfg.data, "train")
        return SourceRows(x, y, cfg.data, resolved={"in_channels": x.shape[1]})  # the vectors' length

    def backbone_dims(self, cfg) -> tuple[int, ...]:
        return (cfg.in_channels,)

    def labeled(self, run_dir, cfg, data, *, test_data, seed, **options):
        self.check_options(options)
        return Rows(*_read(data, "train")), Rows(*_read(data, "test")), "test split: the file's own"

    def embed_rows(self, run_dir, cfg, data, **options) -> torch.Tensor:
        return _read(data, "train")[0]

    def backbone_spec(self, cfg, backbone) -> dict:
        return {"backbone": cfg.backbone, "in_features": cfg.in_channels, "dim": backbone.dim}


class ToyMLP(nn.Sequential):
    def __init__(self, in_features: int):
        super().__init__(nn.Linear(in_features, 32), nn.ReLU(), nn.Linear(32, 16))
        self.dim = 16


@dataclass
class DenoiseConfig:
    noise: float = 0.5


class Denoise(Pretext):
    """P: x + Gaussian noise -> x; k_γ: a linear decoder; L: mean squared error."""

    Config = DenoiseConfig
    optimizer = OptimizerDefaults(name="adamw", lr=1e-2)

    def __init__(self, backbone, cfg, views):
        super().__init__(backbone, cfg, views)
        self.head = nn.Linear(backbone.dim, backbone[0].in_features)

    def pseudolabels(self, x, index=None):
        return x + self.cfg.noise * torch.randn_like(x), x

    def loss(self, inputs, z):
        return F.mse_loss(self.head(self.backbone(inputs)), z), {}


@pytest.fixture
def toy(tmp_path):
    """Register the toy modality, backbone and method for one test, and remove them after."""
    MODALITIES["points"] = Points()
    BACKBONES["toy-mlp"] = ToyMLP
    ssrl.register("denoise_points", family="masked prediction (generative)", modality="points",
                  paper="Vincent et al. 2008, Extracting and Composing Robust Features with Denoising Autoencoders")(Denoise)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (4, 8))
    data = {}
    for split, n in (("train", 400), ("test", 100)):
        y = np.arange(n) % 4
        data[f"x_{split}"] = (centres[y] + rng.normal(0, 1, (n, 8))).astype(np.float32)
        data[f"y_{split}"] = y
    path = tmp_path / "blobs.points.npz"
    np.savez(path, **data)
    yield str(path)
    del MODALITIES["points"], BACKBONES["toy-mlp"], METHODS["denoise_points"]


def test_a_toy_modality_and_method_run_through_pretrain_evaluate_and_embed(toy, tmp_path):
    run = ssrl.pretrain(toy, "denoise_points", out=tmp_path / "run", epochs=3, batch_size=50, progress=False)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["modality"], cfg["backbone"], cfg["in_channels"]) == ("points", "toy-mlp", 8)  # recognised, defaulted
    assert cfg["params"] == {"noise": 0.5} and cfg["optimizer"] == "adamw" and cfg["lr"] == pytest.approx(1e-2 * 50 / 256)
    trained, init = ssrl.load_backbone(run), resolve(run_config(run))
    assert not torch.equal(trained[0].weight, ssrl.build_method(init).backbone[0].weight)  # it trained
    for protocol in ("knn", "linear"):
        result = ssrl.evaluate(run, toy, protocol)
        assert result["split"] == "test split: the file's own" and result["n_test"] == 100
        assert 0.5 < result["top1"] <= 1 and 0.5 < result["random_init_top1"] <= 1  # 4 separable blobs; chance 0.25
        assert (run / "evaluations" / f"{protocol}-blobs.points.npz.json").is_file()
    assert ssrl.embed(run, toy).shape == (400, 16)


def test_a_toy_run_refuses_what_its_modality_does_not_take(toy, tmp_path):
    run = ssrl.pretrain(toy, "denoise_points", out=tmp_path / "run", epochs=1, batch_size=100, progress=False)
    with pytest.raises(SsrlError, match="fewshot protocol takes image or video runs, this is a points run"):
        ssrl.evaluate(run, toy, "fewshot")
    with pytest.raises(SsrlError, match="--pool: not an option for points data"):
        ssrl.evaluate(run, toy, "knn", pool="mean")
    with pytest.raises(SsrlError, match="points data, but simclr is a method for image"):
        ssrl.pretrain(toy, "simclr", out=tmp_path / "other", progress=False)


def test_register_refuses_a_pseudolabel_generator_without_the_index():
    class NoIndex(Denoise):
        def pseudolabels(self, x):
            return x, x

    with pytest.raises(TypeError, match="pseudolabels must take"):
        ssrl.register("no_index", family="masked prediction (generative)", modality="points", paper="-")(NoIndex)
    assert "no_index" not in METHODS


def test_dir_of_the_package_lists_the_lazy_public_api():
    import ssrl

    names = dir(ssrl)
    assert {"pretrain", "evaluate", "embed", "load_backbone", "register_backbone"} <= set(names)
    assert all(hasattr(ssrl, name) for name in ssrl.__all__)
