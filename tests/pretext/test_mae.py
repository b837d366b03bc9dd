"""MAE: z is exactly the masked patches' pixels (normalized per patch by hand), the loss sees
the masked patches only, the encoder never sees them, the decoder predicts every patch,
gradients reach encoder and decoder, a non-ViT backbone is refused, and a tiny run through
the engine writes reconstructions.png."""

import numpy as np
import pytest
import torch
from PIL import Image

import ssrl.pretext.mae  # noqa: F401  (registers "mae")
from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.mae import MAE, masked_mse, normalize_patches, patchify, unpatchify
from ssrl.views import ViewConfig, Views

SMALL = {"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}


def _method(channels=1, size=28, views=None, **params):
    torch.manual_seed(0)
    return MAE(build_backbone("vit-mini", channels, size, seed=0), method_config("mae", {**SMALL, **params}),
               Views(views or ViewConfig.none()))


def _patch_pixels(x, j, p=4, grid=7):
    """Pixels of patch j (row-major) of x (B, C, H, W), in patchify's order."""
    r, c = divmod(j, grid)
    return x[:, :, r * p:(r + 1) * p, c * p:(c + 1) * p].permute(0, 2, 3, 1).reshape(len(x), -1)


def test_patchify_is_row_major_and_inverts():
    x = torch.rand(2, 3, 28, 28)
    patches = patchify(x, 4)
    assert patches.shape == (2, 49, 48)
    for j in (0, 6, 7, 48):
        torch.testing.assert_close(patches[:, j], _patch_pixels(x, j))
    torch.testing.assert_close(unpatchify(patches, 4, 28, 28), x)


def test_targets_are_the_masked_patches_normalized_by_hand():
    method = _method()
    x = torch.rand(3, 1, 28, 28)
    (inputs, visible, masked), z = method.pseudolabels(x)
    assert torch.equal(inputs, x)  # views are the identity here
    assert masked.shape == (3, 37) and visible.shape == (3, 12)  # round(0.75 · 49) = 37
    for b in range(3):
        for k, j in enumerate(masked[b].tolist()):
            v = _patch_pixels(x[b:b + 1], j)[0].double().numpy()
            expected = (v - v.mean()) / np.sqrt(v.var(ddof=1) + 1e-6)
            np.testing.assert_allclose(z[b, k].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_raw_pixel_targets_without_normalization():
    method = _method(norm_pix_loss=False, mask_ratio=0.5)
    x = torch.rand(2, 1, 28, 28)
    (_, visible, masked), z = method.pseudolabels(x)
    assert masked.shape == (2, round(0.5 * 49))
    for b in range(2):
        torch.testing.assert_close(z[b], torch.stack([_patch_pixels(x[b:b + 1], j)[0] for j in masked[b].tolist()]))


def test_normalize_patches_has_zero_mean_unit_variance_and_keeps_flat_patches_at_zero():
    patches = torch.rand(2, 5, 16)
    patches[0, 0] = 0.5
    out = normalize_patches(patches)
    torch.testing.assert_close(out[0, 0], torch.zeros(16))
    torch.testing.assert_close(out[1].mean(-1), torch.zeros(5), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1].var(-1), torch.ones(5), atol=1e-3, rtol=0)


def test_the_loss_sees_the_masked_patches_only():
    pred, z = torch.randn(2, 49, 16), torch.randn(2, 37, 16)
    order = torch.randperm(49)
    masked, visible = order[:37].sort().values.expand(2, -1), order[37:].sort().values.expand(2, -1)
    loss = masked_mse(pred, z, masked)
    torch.testing.assert_close(loss, ((pred[:, masked[0]] - z) ** 2).mean())
    changed = pred.clone()
    changed[:, visible[0]] += 5.0
    assert masked_mse(changed, z, masked) == loss                 # a visible position: no change
    changed = pred.clone()
    changed[0, masked[0, 3]] += 1.0
    assert masked_mse(changed, z, masked) != loss                 # a masked position: changes


def test_targets_ignore_visible_pixels_and_follow_masked_ones():
    method = _method()
    x = torch.rand(2, 1, 28, 28)
    torch.manual_seed(5)
    (_, visible, masked), z = method.pseudolabels(x)
    px = torch.zeros(2, 49, dtype=torch.bool).scatter_(1, visible, True)
    pixel_visible = unpatchify(px[..., None].float().expand(-1, -1, 16), 4, 28, 28).bool()
    other = torch.rand_like(x)
    torch.manual_seed(5)  # the same mask again
    _, z_vis = method.pseudolabels(torch.where(pixel_visible, other, x))
    torch.testing.assert_close(z_vis, z, rtol=0, atol=0)
    torch.manual_seed(5)
    _, z_mask = method.pseudolabels(torch.where(pixel_visible, x, other))
    assert not torch.allclose(z_mask, z)


def test_the_encoder_never_sees_the_masked_patches():
    method = _method()
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    (_, visible, masked), _ = method.pseudolabels(x.detach())
    latent = method.backbone.tokens(x, keep=visible)
    assert latent.shape == (2, 1 + 12, 128)
    (grad,) = torch.autograd.grad(latent.sum(), x)
    per_patch = patchify(grad.abs(), 4).sum(-1)               # (2, 49)
    assert (per_patch.gather(1, masked) == 0).all()
    assert (per_patch.gather(1, visible) > 0).all()
    # and so changing the masked pixels leaves the encoder's output as it was
    hidden = unpatchify(torch.zeros(2, 49, 16).scatter_(1, masked[..., None].expand(-1, -1, 16), 1.0), 4, 28, 28).bool()
    with torch.no_grad():
        other = method.backbone.tokens(torch.where(hidden, torch.rand_like(x), x), keep=visible)
    torch.testing.assert_close(other, latent.detach(), rtol=0, atol=0)


def test_decoder_predicts_pixels_of_every_patch_and_gradients_reach_everything():
    method = _method(channels=3, size=16)   # 4 × 4 patches of 4 × 4 × 3 pixels
    (x, visible, masked), z = method.pseudolabels(torch.rand(4, 3, 16, 16))
    pred = method.head(method.backbone.tokens(x, keep=visible), visible)
    assert pred.shape == (4, 16, 48) and z.shape == (4, 12, 48)
    loss, logs = method.loss((x, visible, masked), z)
    assert loss.ndim == 0 and logs == {}
    loss.backward()
    for name, p in method.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_a_non_vit_backbone_is_refused_with_its_name():
    with pytest.raises(SsrlError, match="ViT backbone.*ConvNet"):
        MAE(build_backbone("convnet-small", 1, 28), method_config("mae"), Views(ViewConfig.none()))


def test_pretrain_on_a_convnet_is_refused_before_the_run_directory_is_made(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.zeros((8, 16, 16), dtype=np.uint8))
    with pytest.raises(SsrlError, match="ViT backbone"):
        pretrain(str(data), "mae", backbone="convnet-small", out=tmp_path / "run", epochs=1, batch_size=4,
                 progress=False)
    assert not (tmp_path / "run").exists()


def test_reconstruction_rows_paste_the_visible_patches_back():
    method = _method()
    x = torch.rand(3, 1, 28, 28)
    rows = method.reconstruct(x, torch.Generator().manual_seed(0))
    assert list(rows) == ["masked input", "prediction", "truth"]
    grey = patchify(rows["masked input"], 4)
    hidden = (grey == 0.5).all(-1)                         # (3, 49): the masked patches are grey
    assert (hidden.sum(1) == 37).all()
    kept = patchify(rows["prediction"], 4)[~hidden]
    torch.testing.assert_close(kept, patchify(x, 4)[~hidden])
    assert torch.equal(rows["truth"], x)


def test_tiny_run_through_the_engine_writes_reconstructions(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8))
    run = pretrain(str(data), "mae", out=tmp_path / "run", epochs=1, batch_size=8, backbone="vit-mini",
                   params=SMALL, progress=False, log_every_n_steps=1)
    assert (run / "backbone.safetensors").exists()
    with Image.open(run / "reconstructions.png") as img:
        assert img.size == (8 * 30 - 2, 3 * 30 - 2)  # 8 images of 28 px, 3 rows, 2 px apart
