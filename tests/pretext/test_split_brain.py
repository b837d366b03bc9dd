"""Split-brain: h_θ is [F_L(L), F_ab(ab)] of an RGB image, each half blind to the other's
channels, rebuilt exactly from the seeded backbone; L bins by hand; the losses are the two
directions' colorization losses; gradients reach both halves and both heads; grey data are
refused; a tiny run through the engine."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from ssrl.api import pretrain
from ssrl.runs import load_backbone
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.backbone_input import SplitBrainBackbone
from ssrl.pretext.colorization import Colorization
from ssrl.pretext.colour_prior import ColourPrior, rebalancing_weights
from ssrl.pretext.lab import AB_RANGE, L_RANGE, grey_rgb, lab_to_rgb, rgb_to_lab, split_lab
from ssrl.pretext.split_brain import SplitBrain, l_bin_centres, quantize_l
from ssrl.views import ViewConfig, Views


def _method(channels=3, backbone="convnet-small", **params):
    torch.manual_seed(0)
    return SplitBrain(build_backbone(backbone, channels, 16, seed=0),
                      method_config("split_brain", {"decoder_width": 16, **params}), Views(ViewConfig.none()))


def _with_lightness(x: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """RGB images x with their L replaced (ab kept), in float64 to keep in gamut checks exact."""
    lab = rgb_to_lab(x)
    return lab_to_rgb(torch.cat([l, lab[:, 1:]], dim=1))


def test_l_bins_by_hand():
    l = torch.tensor([0.0, 1.99, 2.0, 50.0, 99.9, 100.0]).view(1, 1, 2, 3)
    assert quantize_l(l, 50).tolist() == [[[0, 0, 1], [25, 49, 49]]]
    centres = l_bin_centres(50)
    assert centres.shape == (50, 1) and centres[0].item() == 1.0 and centres[-1].item() == 99.0


def test_backbone_is_the_concatenation_of_the_two_halves():
    torch.manual_seed(0)
    plain = build_backbone("convnet-small", 3, 16, seed=0)
    first = plain[0].weight.detach().clone()
    h = SplitBrainBackbone.from_backbone(plain)
    assert h.l_net is plain and h.ab_net is not plain and h.dim == 2 * plain.dim
    assert h.ab_net[0].in_channels == 2 and torch.equal(h.ab_net[0].weight, first[:, :2])
    assert torch.equal(h.l_net[0].weight, first.mean(1, keepdim=True).expand_as(first))  # tied
    h.eval()
    x = torch.rand(2, 3, 16, 16)
    l, ab = split_lab(x)
    expected = torch.cat([plain(grey_rgb(l)), h.ab_net(ab / AB_RANGE)], dim=1)
    torch.testing.assert_close(h(x), expected)


def test_each_half_is_blind_to_the_other_channels():
    h = SplitBrainBackbone.from_backbone(build_backbone("convnet-small", 3, 16, seed=0)).eval()
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 0.6 + 0.2  # mid-range colours stay in gamut
    y = _with_lightness(x, torch.full((2, 1, 16, 16), 55.0, dtype=torch.float64)).float()
    z = _with_lightness(x, torch.full((2, 1, 16, 16), 65.0, dtype=torch.float64)).float()
    d = h.l_net.dim
    fy, fz = h(y), h(z)
    torch.testing.assert_close(fy[:, d:], fz[:, d:], atol=1e-4, rtol=1e-3)  # same ab: same F_ab
    assert not torch.allclose(fy[:, :d], fz[:, :d])                       # other L: other F_L
    grey = grey_rgb(split_lab(y)[0])                                        # same L, no colour
    torch.testing.assert_close(h(grey)[:, :d], fy[:, :d], atol=1e-4, rtol=1e-3)


def test_rebuilt_from_the_seed_and_saved_weights(tmp_path):
    """What ``ssrl.runs.load_backbone`` would do with the wrap_backbone hook: seed → wrapper, then weights."""
    trained = SplitBrainBackbone.from_backbone(build_backbone("convnet-small", 3, 16, seed=3))
    again = SplitBrainBackbone.from_backbone(build_backbone("convnet-small", 3, 16, seed=3))
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), again.state_dict().values()))
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.randn_like(p))
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, tmp_path / "backbone.safetensors")
    rebuilt = SplitBrain.wrap_backbone(build_backbone("convnet-small", 3, 16, seed=3))
    rebuilt.load_state_dict(load_file(tmp_path / "backbone.safetensors"))
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(rebuilt.eval()(x), trained.eval()(x))


def test_regression_loss_by_hand():
    method = _method(loss="regression")
    x = torch.rand(2, 3, 16, 16)
    inputs, (z_ab, z_l) = method.pseudolabels(x)
    l, ab = split_lab(x)
    block = lambda t: t.reshape(2, t.shape[1], 8, 2, 8, 2).mean(dim=(3, 5))  # noqa: E731
    torch.testing.assert_close(z_ab, block(ab) / AB_RANGE, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(z_l, block(l) / L_RANGE, atol=1e-5, rtol=1e-4)
    loss, logs = method.loss(inputs, (z_ab, z_l))
    out_ab, out_l = method.predict(inputs, (8, 8))
    assert out_ab.shape == (2, 2, 8, 8) and out_l.shape == (2, 1, 8, 8)
    torch.testing.assert_close(loss, ((out_ab - z_ab) ** 2).mean() + ((out_l - z_l) ** 2).mean())
    torch.testing.assert_close(loss, logs["loss_ab"] + logs["loss_l"])


def test_classification_loss_by_hand():
    method = _method()
    assert method.head["ab"].out.out_channels == 262 and method.head["l"].out.out_channels == 50
    x = torch.rand(2, 3, 16, 16)
    inputs, (z_ab, z_l) = method.pseudolabels(x)
    assert torch.equal(z_l, quantize_l(split_lab(x)[0].reshape(2, 1, 8, 2, 8, 2).mean(dim=(3, 5)), 50))
    loss, _ = method.loss(inputs, (z_ab, z_l))
    out_ab, out_l = method.predict(inputs, (8, 8))
    ce = lambda logits, z: -F.log_softmax(logits, 1).gather(1, z[:, None]).mean()  # noqa: E731
    torch.testing.assert_close(loss, ce(out_ab, z_ab) + ce(out_l, z_l))


def test_rebalancing_uses_the_colour_prior_colorization_holds():
    method = _method(rebalance=True)
    colour = Colorization(build_backbone("convnet-small", 3, 16, seed=0), method_config("colorization", {}),
                          Views(ViewConfig.none()))
    assert type(method.prior) is type(colour.prior) is ColourPrior  # one component, reused, not copied
    assert torch.equal(method.prior.bins, colour.prior.bins)
    images = torch.tensor([[255, 0, 0], [0, 0, 255]], dtype=torch.uint8)[:, :, None, None].expand(-1, -1, 8, 8)
    assert method.on_train_epoch_start(0, images.contiguous(), None) == {"colour_bins_used": 2.0}
    expected = rebalancing_weights(method.prior.p, method.prior.bins, 0.5, 5.0)
    torch.testing.assert_close(method.prior.w, expected)
    # without rebalancing (the default) nothing is counted
    assert _method().on_train_epoch_start(0, images.contiguous(), None) is None


@pytest.mark.parametrize("loss", ["classification", "regression"])
def test_gradients_reach_both_halves_and_heads(loss):
    method = _method(loss=loss)
    out, _ = method.loss(*method.pseudolabels(torch.rand(2, 3, 16, 16)))
    out.backward()
    for part in (method.backbone.l_net, method.backbone.ab_net, method.head["ab"], method.head["l"]):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_grey_data_are_refused():
    with pytest.raises(SsrlError, match="split_brain .*needs colour .*1 channel \\(grayscale\\)"):
        _method(channels=1)
    with pytest.raises(SsrlError, match="needs colour"):
        _method().pseudolabels(torch.rand(2, 1, 16, 16))


def test_tiny_run_through_the_engine(tmp_path):
    data = tmp_path / "colour.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3), dtype=np.uint8))
    run = pretrain(str(data), "split_brain", out=tmp_path / "run", epochs=1, batch_size=8,
                   params={"decoder_width": 16}, progress=False, log_every_n_steps=1)
    picture = Image.open(run / "reconstructions.png")
    assert picture.size == (8 * 18 - 2, 5 * 18 - 2)  # rows: L, ab, ab from L, L from ab, truth
    assert "loss_ab" in (run / "metrics.csv").read_text()
    # h_θ is exported whole: both halves, their features concatenated, rebuilt from the run.
    assert json.loads((run / "backbone.json").read_text())["dim"] == 256
    backbone = load_backbone(run)
    assert isinstance(backbone, SplitBrainBackbone) and backbone.dim == 256
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        feats = backbone(x)
    assert feats.shape == (3, 256)
    w = load_file(run / "backbone.safetensors")
    assert any(k.startswith("ab_net.") for k in w) and any(k.startswith("l_net.") for k in w)
