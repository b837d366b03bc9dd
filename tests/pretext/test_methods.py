"""Every registered method, on a tiny backbone: finite loss, gradients reach backbone and head."""

import math

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, list_methods, method_config
from ssrl.views import Views

IMAGE_METHODS = sorted(n for n, c in METHODS.items() if c.modality == "image")
VIDEO_METHODS = sorted(n for n, c in METHODS.items() if c.modality == "video")
SMALL = {"deepcluster": {"clusters": 3}}  # six images cannot make 100 clusters
FRAMES = 16  # frames of the test videos, as moving-digits has


def _input(name: str, n: int, channels: int, generator=None) -> torch.Tensor:
    """A raw batch of the method's modality: images (n, C, 16, 16) or videos (n, T, C, 16, 16)."""
    video = (FRAMES,) if METHODS[name].modality == "video" else ()
    return torch.rand(n, *video, channels, 16, 16, generator=generator)


@pytest.mark.parametrize("name", IMAGE_METHODS + VIDEO_METHODS)
@pytest.mark.parametrize("channels", [1, 3])
def test_method_forward_backward(name, channels):
    torch.manual_seed(0)
    cls = METHODS[name]
    backbone = build_backbone(cls.default_backbone or "convnet-small", channels, 16, seed=0)
    if cls.needs_channels not in (None, channels):
        with pytest.raises(SsrlError, match="colour"):
            cls(backbone, method_config(name, SMALL.get(name)), Views(cls.default_views()))
        return
    method = cls(backbone, method_config(name, SMALL.get(name)), Views(cls.default_views()))
    x = _input(name, 6, channels)
    method.on_train_epoch_start(0, (x * 255).to(torch.uint8), None)
    loss, logs = method.loss(*method.pseudolabels(x, torch.arange(6)))
    assert loss.ndim == 0 and math.isfinite(loss.item())
    loss.backward()
    for part in (method.backbone, method.head):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    assert all(v.ndim == 0 for v in logs.values())


def test_the_catalogue_read_from_the_method_files_is_the_registry():
    from ssrl.catalog import built_in_methods

    assert built_in_methods() == list_methods()


def test_list_methods_has_name_family_modality_paper():
    rows = {r["name"]: r for r in list_methods()}
    assert {"simclr", "rotation"} <= set(rows)
    assert rows["rotation"]["family"] == "transformation prediction"
    assert "Chen" in rows["simclr"]["paper"]


def test_method_config_parses_and_rejects():
    assert method_config("simclr", {"temperature": "0.2"}).temperature == 0.2
    from ssrl.errors import SsrlError

    with pytest.raises(SsrlError, match="no parameter 'tau'"):
        method_config("simclr", {"tau": "0.2"})
    with pytest.raises(SsrlError, match="unknown method 'nope'.*rotation"):
        method_config("nope")


@pytest.mark.parametrize("side, expected_queue, expected_crop", [(16, 4096, 0.2), (128, 65536, 0.08)])
def test_imagenet_size_images_get_the_papers_defaults(tmp_path, side, expected_queue, expected_crop):
    import numpy as np
    import yaml
    from lightning.pytorch.callbacks import Callback

    from ssrl.api import pretrain

    class Views(Callback):
        def on_train_start(self, trainer, pl_module):
            self.cfg = pl_module.method.views.cfg

    seen = Views()
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(0, 256, (4, side, side), dtype=np.uint8))
    run = pretrain(str(tmp_path / "x.npy"), "moco_v2", out=tmp_path / "run", epochs=1, batch_size=4,
                   params={"temperature": "0.3"}, views={"hflip": "0"}, callbacks=(seen,), progress=False)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["params"]["queue_size"] == expected_queue
    assert cfg["params"]["temperature"] == 0.3  # the run's own options win
    assert seen.cfg.crop_scale[0] == expected_crop
    assert seen.cfg.hflip == 0.0


def _loss(name: str, autocast: bool) -> torch.Tensor:
    torch.manual_seed(0)
    cls = METHODS[name]
    backbone = build_backbone(cls.default_backbone or "convnet-small", 3, 16, seed=0)
    method = cls(backbone, method_config(name, SMALL.get(name)), Views(cls.default_views()))
    x = _input(name, 8, 3, torch.Generator().manual_seed(1))
    method.on_train_epoch_start(0, (x * 255).to(torch.uint8), None)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return method.loss(*method.pseudolabels(x, torch.arange(8)))[0]


@pytest.mark.parametrize("name", IMAGE_METHODS + VIDEO_METHODS)
def test_loss_under_bf16_autocast_is_float32_and_near_the_float32_loss(name):
    """bf16-mixed (``--precision auto`` on bf16 hardware) changes the matrix products' rounding,
    not the loss: the sensitive parts (softmax of logits, Sinkhorn, centring, statistics) stay
    in float32, so the loss is float32 and within bfloat16's rounding of the float32 one."""
    full, mixed = _loss(name, autocast=False), _loss(name, autocast=True)
    assert mixed.dtype == torch.float32 and math.isfinite(mixed.item())
    # NNCLR's positives are nearest neighbours found in float32, but of bf16-computed embeddings:
    # near-tied neighbours of a random-init backbone can differ, a discrete change of the loss
    rel = 0.1 if name == "nnclr" else 0.05
    assert mixed.item() == pytest.approx(full.item(), rel=rel, abs=0.02)
