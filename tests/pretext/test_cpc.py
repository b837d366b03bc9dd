"""CPC: the targets are exactly the patches k rows below and never among the context's inputs;
the loss is InfoNCE over every patch of the batch, computed here pair by pair; gradients reach
h_θ, g_ar and W_k; colour channels are dropped but never all; a tiny run through the engine."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.pretext import method_config
from ssrl.pretext.cpc import CPC, ContextNetwork, cpc_pairs, drop_channels
from ssrl.views import Views


def _method(channels=1, backbone="convnet-small", **params):
    torch.manual_seed(0)
    return CPC(build_backbone(backbone, channels, 28, seed=0), method_config("cpc", {"context_dim": 16, **params}),
               Views(CPC.default_views()))


def test_targets_are_exactly_k_rows_below_in_the_same_column():
    grid, k_max = 5, 3
    context, target, k = cpc_pairs(grid, k_max)
    assert len(context) == sum((grid - kk) * grid for kk in range(1, k_max + 1))
    ci, cj = context // grid, context % grid
    ti, tj = target // grid, target % grid
    assert torch.equal(ti, ci + k) and torch.equal(tj, cj)
    assert (k >= 1).all() and (k <= k_max).all() and (ti < grid).all()
    # every reachable (context, k) pair is there once
    assert len(set(zip(context.tolist(), k.tolist()))) == len(context)


def test_context_never_sees_the_rows_it_must_predict():
    torch.manual_seed(0)
    grid = 5
    net = ContextNetwork(8, 16, grid, layers=3)
    z = torch.randn(2, grid, grid, 8, requires_grad=True)
    c = net(z) * torch.randn(16)  # a random readout: the layer-normed c sums to a constant
    for i in range(grid):
        (g,) = torch.autograd.grad(c[:, i].sum(), z, retain_graph=True)
        assert (g[:, i + 1:] == 0).all()                 # rows below row i: no influence
        assert g[:, :i + 1].abs().sum() > 0             # rows 0..i: they are its inputs
    # so for every pair the target's patch is not among the context's inputs
    context, target, _ = cpc_pairs(grid, 3)
    for ctx, tgt in zip(context.tolist(), target.tolist()):
        (g,) = torch.autograd.grad(c[0, ctx // grid, ctx % grid].sum(), z, retain_graph=True)
        assert g[0, tgt // grid, tgt % grid].abs().max() == 0


def test_loss_is_info_nce_over_every_patch_of_the_batch():
    method = _method(grid=4, k_max=2, temperature=0.5, normalize=False)
    b, g, dim = 3, 4, method.backbone.dim
    tiles, z = method.pseudolabels(torch.rand(b, 1, 28, 28))
    assert tiles.shape == (b * g * g, 1, 12, 12) and torch.equal(z, torch.arange(b).repeat_interleave(g * g))
    loss, logs = method.loss(tiles, z)

    feats = method.backbone(tiles).reshape(b, g, g, dim)
    head = method.head[0]
    c = head["context"](feats)
    w = head["predict"].weight.reshape(2, dim, -1)  # W_k, k = 1, 2
    keys = feats.reshape(-1, dim)
    terms = []
    for n in range(b):
        for k in (1, 2):
            for i in range(g - k):
                for j in range(g):
                    scores = keys @ (w[k - 1] @ c[n, i, j]) / 0.5
                    terms.append(-F.log_softmax(scores, 0)[n * g * g + (i + k) * g + j])
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
    assert 0 <= logs["pretext_acc"] <= 1


@pytest.mark.parametrize("directions", [1, 2, 4])
def test_gradients_reach_encoder_context_and_predictors(directions):
    method = _method(directions=directions)
    loss, _ = method.loss(*method.pseudolabels(torch.rand(2, 1, 28, 28)))
    loss.backward()
    assert len(method.head) == directions
    for name, p in method.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_colour_patches_keep_exactly_one_channel():
    x = torch.rand(500, 3, 4, 4) + 0.1
    kept = (drop_channels(x).abs().sum(dim=(2, 3)) > 0).sum(dim=1)
    assert (kept == 1).all()
    method = _method(channels=3)
    tiles, _ = method.pseudolabels(torch.rand(4, 3, 28, 28) + 0.1)
    assert ((tiles.abs().sum(dim=(2, 3)) > 0).sum(dim=1) <= 1).all()


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="k_max"):
        _method(grid=3, k_max=3)
    with pytest.raises(ValueError, match="directions"):
        _method(directions=3)


def test_tiny_run_through_the_engine_with_the_layer_norm_backbone(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8))
    run = pretrain(str(data), "cpc", out=tmp_path / "run", epochs=1, batch_size=8, backbone="convnet-small-ln",
                   params={"context_dim": 16, "directions": 2}, progress=False, log_every_n_steps=1)
    assert (run / "backbone.safetensors").exists()
    metrics = (run / "metrics.csv").read_text()
    assert "pretext_acc" in metrics


def test_normalized_scores_are_cosines_over_the_temperature():
    method = _method(grid=3, k_max=1, temperature=0.2)
    grid = torch.randn(2, 3, 3, method.backbone.dim)
    loss, _ = method._predict(method.head[0], grid)
    c = method.head[0]["context"](grid)
    w = method.head[0]["predict"].weight
    keys = F.normalize(grid.reshape(-1, grid.shape[-1]), dim=1)
    terms = []
    for n in range(2):
        for i in range(2):
            for j in range(3):
                q = F.normalize(w @ c[n, i, j], dim=0)
                terms.append(-F.log_softmax(keys @ q / 0.2, 0)[n * 9 + (i + 1) * 3 + j])
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
