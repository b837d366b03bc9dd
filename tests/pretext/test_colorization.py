"""Colorization: ab bins and quantization, rebalancing weights and losses against hand
computations, P shows h_θ the lightness only, the prior is counted over D_s once, gradients
reach h_θ and k_γ, grey data are refused, and a tiny run through the engine."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.colorization import (Colorization, ab_bins, annealed_mean, quantize_ab, rebalancing_weights,
                                       smooth_distribution, weighted_cross_entropy)
from ssrl.pretext.lab import AB_RANGE, grey_rgb, rgb_to_lab, split_lab
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


def test_ab_bins_are_the_gamut_cells_of_side_10():
    bins = ab_bins(10.0)
    assert bins.shape == (262, 2)
    assert torch.equal(bins, torch.round(bins / 10) * 10)      # centres on the grid
    assert len(torch.unique(bins, dim=0)) == len(bins)
    primaries = rgb_to_lab(torch.eye(3).T.reshape(1, 3, 3, 1))[0, 1:, :, 0].T  # ab of red, green, blue
    for ab in [*primaries, torch.zeros(2)]:                      # their cells and grey's are bins
        assert (bins == torch.round(ab / 10) * 10).all(1).any()
    assert not (bins == torch.tensor([-100.0, -100.0])).all(1).any()  # no sRGB colour is there


def test_quantize_ab_by_hand():
    bins = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    ab = torch.tensor([[4.0, 3.0], [12.0, 1.0], [-3.0, 8.0], [30.0, 20.0]]).T.reshape(1, 2, 2, 2)
    # cells (0, 0), (1, 0), (0, 1) are bins 0, 1, 2; cell (3, 2) is no bin: nearest centre (10, 0)
    assert quantize_ab(ab, bins, 10.0).tolist() == [[[0, 1], [2, 1]]]
    real = ab_bins(10.0)
    z = quantize_ab(torch.tensor([14.0, -6.0]).view(1, 2, 1, 1), real, 10.0)
    assert real[z.item()].tolist() == [10.0, -10.0]


def test_smoothing_and_rebalancing_weights_by_hand():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    # no smoothing: w ∝ 1 / (0.5 p + 0.5 / 2) = (1.6, 2.666…); Σ p w = 1.8666… → (6/7, 10/7)
    w = rebalancing_weights(p, centres, lam=0.5, sigma=0.0)
    torch.testing.assert_close(w, torch.tensor([6 / 7, 10 / 7], dtype=torch.float64))
    assert math.isclose(float((p * w).sum()), 1.0)
    # σ = 5 between centres 10 apart: kernel e^-2 off the diagonal
    k = math.exp(-2)
    smoothed = smooth_distribution(torch.tensor([1.0, 0.0]), centres, 5.0)
    torch.testing.assert_close(smoothed, torch.tensor([1 / (1 + k), k / (1 + k)]))
    pt = torch.tensor([0.75 + 0.25 * k, 0.25 + 0.75 * k], dtype=torch.float64) / (1 + k)
    raw = 1 / (0.5 * pt + 0.25)
    torch.testing.assert_close(rebalancing_weights(p, centres, 0.5, 5.0), raw / (pt * raw).sum())
    # λ = 1: the uniform distribution alone, every weight 1
    torch.testing.assert_close(rebalancing_weights(p, centres, 1.0, 5.0), torch.ones(2, dtype=torch.float64))


def test_weighted_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(3)], [0.0, 0.0]]).T.reshape(1, 2, 1, 2)  # pixel 0: p = (¼, ¾)
    z = torch.tensor([[[1, 0]]])
    weights = torch.tensor([2.0, 0.5])
    expected = (0.5 * -math.log(0.75) + 2.0 * math.log(2)) / 2
    assert math.isclose(weighted_cross_entropy(logits, z, weights).item(), expected, rel_tol=1e-6)
    assert math.isclose(weighted_cross_entropy(logits, z).item(), (-math.log(0.75) + math.log(2)) / 2, rel_tol=1e-6)


def test_annealed_mean_by_hand():
    centres = torch.tensor([[0.0, 0.0], [10.0, 20.0]])
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1)
    torch.testing.assert_close(annealed_mean(logits, centres, 1.0).flatten(), torch.tensor([7.5, 15.0]))
    torch.testing.assert_close(annealed_mean(logits, centres, 0.5).flatten(), torch.tensor([9.0, 18.0]))  # p ∝ (1, 9)


def test_pseudolabels_show_lightness_only_and_targets_are_block_colours():
    method = _method()
    method.views = Views(ViewConfig.none())
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64).float()
    inputs, z = method.pseudolabels(x)
    l, ab = split_lab(x)
    torch.testing.assert_close(inputs, grey_rgb(l))
    assert z.shape == (2, 8, 8) and z.dtype == torch.long  # 1/2 resolution
    block_ab = ab.reshape(2, 2, 8, 2, 8, 2).mean(dim=(3, 5))
    assert torch.equal(z, quantize_ab(block_ab, method.bins, 10.0))
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
    red, blue = (quantize_ab(split_lab(images[i:i + 1].float() / 255)[1][:, :, :1, :1], method.bins, 10.0).item()
                 for i in (0, 1))
    assert method.ab_prior[red] == method.ab_prior[blue] == 0.5 and method.ab_prior.sum() == 1
    torch.testing.assert_close(method.class_weights, rebalancing_weights(method.ab_prior, method.bins, 0.5, 5.0))
    x = torch.rand(3, 3, 16, 16)
    inputs, z = method.pseudolabels(x)
    loss, logs = method.loss(inputs, z)
    logits = method.head(feature_map(method.backbone, inputs), (8, 8))
    ce = -F.log_softmax(logits, 1).gather(1, z[:, None])[:, 0]
    torch.testing.assert_close(loss, (method.class_weights[z] * ce).mean())
    assert 0 <= logs["pretext_acc"] <= 1
    # counted once: a later epoch (or a resumed run, whose buffers come from the checkpoint) keeps it
    assert method.on_train_epoch_start(1, _solid([[0, 255, 0]] * 2), None) is None
    assert method.ab_prior[red] == 0.5


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
