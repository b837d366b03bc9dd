"""Colorization: P shows h_θ the lightness only, the loss is the rebalanced cross-entropy over
the prior's bins, the prior is counted over D_s once, gradients reach h_θ and k_γ, grey data
are refused, and a tiny run through the engine. The bins, weights and losses themselves:
``test_colour_prior``."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.data.source import to_unit
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.colorization import Colorization
from ssrl.pretext.colour_prior import quantize_ab, rebalancing_weights
from ssrl.pretext.lab import AB_RANGE, grey_rgb, split_lab
from ssrl.pretext.pixel_head import feature_map
from ssrl.runs import load_backbone
from ssrl.views import ViewConfig, Views


def _method(channels=3, size=16, **params):
    torch.manual_seed(0)
    backbone = build_backbone("convnet-small", channels, size, seed=0)
    return Colorization(backbone, method_config("colorization", {"decoder_width": 16, **params}),
                        Views(Colorization.default_views()))


def _solid(colours, size=8) -> torch.Tensor:
    """uint8 images (N, 3, size, size), each one solid colour (RGB in 0..255)."""
    return torch.tensor(colours, dtype=torch.uint8)[:, :, None, None].expand(-1, -1, size, size).contiguous()


def test_pseudolabels_show_lightness_only_and_targets_are_block_colours():
    method = _method()
    method.views = Views(ViewConfig.none())
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64).float()
    inputs, z = method.pseudolabels(x)
    l, ab = split_lab(x)
    torch.testing.assert_close(inputs, grey_rgb(l))
    assert z.shape == (2, 8, 8) and z.dtype == torch.long  # 1/2 resolution
    block_ab = ab.reshape(2, 2, 8, 2, 8, 2).mean(dim=(3, 5))
    assert torch.equal(z, quantize_ab(block_ab, method.prior.bins, 10.0))
    # a second image with the same lightness but other colours gives the same input
    other = grey_rgb(l)  # same L, no colour
    assert torch.allclose(method.pseudolabels(other)[0], inputs, atol=1e-5)


def test_backbone_input_weights_are_tied_so_rgb_reads_as_grey():
    method = _method()
    w = method.backbone[0].weight
    assert torch.equal(w[:, 0], w[:, 1]) and torch.equal(w[:, 1], w[:, 2])
    method.backbone.eval()
    x = torch.rand(2, 3, 16, 16)
    grey = x.mean(1, keepdim=True).expand_as(x)
    torch.testing.assert_close(method.backbone(x), method.backbone(grey), atol=1e-5, rtol=1e-4)


def test_classification_loss_equals_weighted_ce_of_the_head():
    method = _method()
    images = _solid([[255, 0, 0], [0, 0, 255], [255, 0, 0], [0, 0, 255]])
    figures = method.on_train_epoch_start(0, images, None)
    assert figures == {"colour_bins_used": 2.0}
    red, blue = (quantize_ab(split_lab(to_unit(images[i:i + 1]))[1][:, :, :1, :1], method.prior.bins, 10.0).item()
                 for i in (0, 1))
    assert method.prior.p[red] == method.prior.p[blue] == 0.5 and method.prior.p.sum() == 1
    torch.testing.assert_close(method.prior.w, rebalancing_weights(method.prior.p, method.prior.bins, 0.5, 5.0))
    x = torch.rand(3, 3, 16, 16)
    inputs, z = method.pseudolabels(x)
    loss, logs = method.loss(inputs, z)
    logits = method.head(feature_map(method.backbone, inputs), (8, 8))
    ce = -F.log_softmax(logits, 1).gather(1, z[:, None])[:, 0]
    torch.testing.assert_close(loss, (method.prior.w[z] * ce).mean())
    assert 0 <= logs["pretext_acc"] <= 1
    # counted once: a later epoch (or a resumed run, whose buffers come from the checkpoint) keeps it
    assert method.on_train_epoch_start(1, _solid([[0, 255, 0]] * 2), None) is None
    assert method.prior.p[red] == 0.5


def test_regression_loss_is_l2_on_scaled_ab():
    method = _method(loss="regression")
    method.views = Views(ViewConfig.none())
    x = torch.rand(2, 3, 16, 16)
    inputs, z = method.pseudolabels(x)
    torch.testing.assert_close(z, split_lab(x)[1].reshape(2, 2, 8, 2, 8, 2).mean(dim=(3, 5)) / AB_RANGE,
                               atol=1e-5, rtol=1e-4)
    loss, _ = method.loss(inputs, z)
    out = method.head(feature_map(method.backbone, inputs), (8, 8))
    torch.testing.assert_close(loss, ((out - z) ** 2).mean())


@pytest.mark.parametrize("loss", ["classification", "regression"])
@pytest.mark.parametrize("backbone", ["convnet-small", "vit-mini"])
def test_gradients_reach_backbone_and_head(loss, backbone):
    torch.manual_seed(0)
    method = Colorization(build_backbone(backbone, 3, 16, seed=0), method_config("colorization", {"loss": loss}),
                          Views(Colorization.default_views()))
    out, _ = method.loss(*method.pseudolabels(torch.rand(2, 3, 16, 16)))
    out.backward()
    for part in (method.backbone, method.head):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_grey_data_are_refused():
    with pytest.raises(SsrlError, match="colorization .*needs colour .*1 channel \\(grayscale\\)"):
        _method(channels=1)
    method = _method()
    with pytest.raises(SsrlError, match="needs colour"):
        method.pseudolabels(torch.rand(2, 1, 16, 16))
    with pytest.raises(SsrlError, match="needs colour"):
        method.on_train_epoch_start(0, torch.zeros(2, 1, 16, 16, dtype=torch.uint8), None)
    with pytest.raises(SsrlError, match="loss must be one of"):
        _method(loss="l1")


def test_tiny_run_through_the_engine(tmp_path):
    data = tmp_path / "colour.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3), dtype=np.uint8))
    run = pretrain(str(data), "colorization", out=tmp_path / "run", epochs=1, batch_size=8,
                   params={"decoder_width": 16}, progress=False, log_every_n_steps=1)
    picture = Image.open(run / "reconstructions.png")
    assert picture.size == (8 * 18 - 2, 3 * 18 - 2) and picture.mode == "RGB"  # rows: input, prediction, truth
    assert "colour_bins_used" in (run / "metrics.csv").read_text()
    backbone = load_backbone(run)  # the exported h_θ takes the RGB images the evaluation feeds it
    assert backbone(torch.rand(2, 3, 16, 16)).shape == (2, backbone.dim)
