"""Super-resolution: P's input holds the low-resolution image's information only and is the
bilinear baseline; the losses equal hand computations; φ is a frozen copy of h_θ at init;
an untrained model starts near the baseline; gradients reach h_θ and k_γ; grey and colour
images; a tiny run through the engine."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.pixel_head import PixelDecoder, feature_map, feature_maps, full_resolution_channels
from ssrl.pretext.super_resolution import SuperResolution, content_loss, degrade, low_resolution
from ssrl.views import ViewConfig, Views


def _method(channels=3, backbone="convnet-small", **params):
    torch.manual_seed(0)
    return SuperResolution(build_backbone(backbone, channels, 16, seed=0),
                           method_config("super_resolution", {"decoder_width": 16, **params}), Views(ViewConfig.none()))


def _head_by_hand(method, inputs):
    """k_γ on h_θ's maps taken another way: ``convnet-small``'s layers sliced by hand (the last
    map is the input of its average pool, the full-resolution one its second block's output)."""
    skip = _layers(method.backbone, 6)(inputs) if method.head.skip_dim else None
    return method.head(_layers(method.backbone, -2)(inputs), (16, 16), skip)


def _layers(net, stop):
    return torch.nn.Sequential(*list(net)[:stop])


def test_feature_maps_are_the_last_map_and_the_last_full_resolution_block():
    net = build_backbone("convnet-small", 3, 16, seed=0)
    x = torch.rand(2, 3, 16, 16)
    last, full = feature_maps(net, x)
    torch.testing.assert_close(last, _layers(net, -2)(x))
    torch.testing.assert_close(full, _layers(net, 6)(x))           # conv-BN-ReLU twice, before the first max-pool
    assert full.shape == (2, 32, 16, 16) and full_resolution_channels(net, 3) == 32
    assert feature_maps(net, x, full_resolution=False)[1] is None
    vit = build_backbone("vit-mini", 3, 16, seed=0)
    assert feature_maps(vit, x)[1] is None and full_resolution_channels(vit, 3) == 0


def test_counting_skip_channels_moves_no_batch_norm_statistics():
    net = build_backbone("convnet-small", 3, 16, seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    full_resolution_channels(net, 3)
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_decoder_reads_the_skip_map_it_was_built_for():
    head = PixelDecoder(128, 3, 16, skip_dim=32)
    fmap, skip = torch.rand(2, 128, 4, 4), torch.rand(2, 32, 8, 8)
    assert head(fmap, (16, 16), skip).shape == (2, 3, 16, 16)  # a smaller skip map is resized
    with pytest.raises(ValueError, match="32-channel skip"):
        head(fmap, (16, 16))
    assert _method().head.skip_dim == 0 and _method(decoder_skip=True).head.skip_dim == 32


def test_views_are_flips_only():
    # a resized crop would itself be a blurred upsample, a wrong target
    assert SuperResolution.default_views() == ViewConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip=0.5,
                                                         jitter=0.0, grayscale=0.0)


def test_low_resolution_is_block_means_by_hand():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert low_resolution(x, 2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert low_resolution(x, 4).flatten().tolist() == [7.5]


@pytest.mark.parametrize("factor", [2, 4])
def test_input_carries_the_low_resolution_image_only(factor):
    method = _method(factor=factor)
    x = torch.rand(3, 3, 16, 16) * 0.5 + 0.25
    # a zero-mean pattern inside every factor × factor block leaves the block means unchanged
    block = torch.randn(3, 3, 16 // factor, 16 // factor, factor, factor) * 0.1
    block = block - block.mean(dim=(-1, -2), keepdim=True)
    other = x + block.permute(0, 1, 2, 4, 3, 5).reshape(3, 3, 16, 16)
    (a, za), (b, zb) = method.pseudolabels(x), method.pseudolabels(other)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(za, zb)
    # and that input is the trivial baseline: bilinear upsampling of the low-res image
    baseline = F.interpolate(low_resolution(x, factor), size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(a, baseline.clamp(0, 1))
    torch.testing.assert_close(za, x)


@pytest.mark.parametrize("skip", [False, True])
def test_loss_is_l2_on_the_residual_prediction_by_hand(skip):
    method = _method(decoder_skip=skip)
    x = torch.rand(2, 3, 16, 16)
    inputs, z = method.pseudolabels(x)
    loss, logs = method.loss(inputs, z)
    prediction = _head_by_hand(method, inputs) + inputs
    torch.testing.assert_close(loss, ((prediction - z) ** 2).mean())
    torch.testing.assert_close(logs["baseline_mse"], ((inputs - z) ** 2).mean())
    # an untrained model starts close to the baseline, not at a random image
    assert abs(logs["pixel_mse"] - logs["baseline_mse"]) < 0.1 * logs["baseline_mse"]


@pytest.mark.parametrize("skip", [False, True])
def test_without_residual_the_head_predicts_the_image(skip):
    method = _method(residual=False, decoder_skip=skip)
    inputs, z = method.pseudolabels(torch.rand(2, 3, 16, 16))
    loss, _ = method.loss(inputs, z)
    torch.testing.assert_close(loss, ((_head_by_hand(method, inputs) - z) ** 2).mean())


def test_content_term_by_hand_on_a_frozen_copy_of_the_initial_backbone():
    method = _method(content_weight=0.5)
    phi = method.content_net
    assert all(not p.requires_grad for p in phi.parameters())
    assert all(torch.equal(a, b) for a, b in zip(phi.state_dict().values(), method.backbone.state_dict().values()))
    method.train()
    assert not phi.training and method.backbone.training  # φ keeps its BN statistics fixed
    inputs, z = method.pseudolabels(torch.rand(2, 3, 16, 16))
    loss, logs = method.loss(inputs, z)
    prediction = method.predict(inputs)
    fp, fz = feature_map(phi, prediction), feature_map(phi, z)
    content = ((fp - fz) ** 2).mean() / (fz**2).mean()
    torch.testing.assert_close(logs["content_mse"], content.detach())
    torch.testing.assert_close(loss, ((prediction - z) ** 2).mean() + 0.5 * content)
    assert content_loss(phi, z, z) == 0
    # a training step moves h_θ, never φ
    before = [p.clone() for p in phi.parameters()]
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    loss.backward()
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, phi.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(phi.parameters(), method.backbone.parameters()))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("backbone", ["convnet-small", "vit-mini"])
@pytest.mark.parametrize("skip", [False, True])
def test_gradients_reach_backbone_and_head_for_grey_and_colour(channels, backbone, skip):
    method = _method(channels=channels, backbone=backbone, content_weight=1.0, decoder_skip=skip)
    inputs, z = method.pseudolabels(torch.rand(2, channels, 16, 16))
    assert inputs.shape == z.shape == (2, channels, 16, 16)
    loss, _ = method.loss(inputs, z)
    loss.backward()
    for part in (method.backbone, method.head):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_bad_settings_are_refused():
    with pytest.raises(SsrlError, match="factor must be at least 2"):
        _method(factor=1)
    with pytest.raises(SsrlError, match="downsample must be one of"):
        _method(downsample="nearest")
    bicubic = degrade(torch.rand(1, 1, 16, 16), 4, "bicubic", "bicubic")
    assert bicubic.min() >= 0 and bicubic.max() <= 1


@pytest.mark.parametrize("channels", [1, 3])
def test_tiny_run_through_the_engine(tmp_path, channels):
    data = tmp_path / "tiny.npy"
    shape = (16, 16, 16) if channels == 1 else (16, 16, 16, 3)  # grey (N, H, W) or colour (N, H, W, 3)
    np.save(data, np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    run = pretrain(str(data), "super_resolution", out=tmp_path / "run", epochs=1, batch_size=8,
                   params={"decoder_width": 16}, progress=False, log_every_n_steps=1)
    picture = Image.open(run / "reconstructions.png")
    assert picture.size == (8 * 18 - 2, 3 * 18 - 2)  # rows: input, prediction, truth
    assert "baseline_mse" in (run / "metrics.csv").read_text()
