"""Relative position: jittered patches stay inside the image with the gap kept; each pair's
neighbour lies in the direction its label names (checked on images whose pixels encode their
own coordinates); colour channels are dropped, never all, and only from colour images; the loss
is the cross-entropy of the pairs computed one by one; gradients reach h_θ and k_γ; a tiny run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ssrl.pretext.relative_position  # noqa: F401  (registers "relative_position")
from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.jittered_grid import cut_patches, jittered_starts
from ssrl.pretext.relative_position import (
    CENTRE, NEIGHBOURS, OFFSETS, RelativePosition, downsample_some, drop_channels, fit_layout, pair_features,
)
from ssrl.views import ViewConfig, Views

SIDE = 28
UNZOOMED = dict(zoom=1.0, patch=7, gap=2, jitter=1)  # patches cut from the image itself: exact blocks of it


def _method(channels=1, views=None, **params):
    torch.manual_seed(0)
    return RelativePosition(build_backbone("convnet-small", channels, SIDE, seed=0),
                            method_config("relative_position", {"head_hidden": 32, **params}),
                            Views(views or RelativePosition.default_views()))


def coordinate_images(n: int, channels: int = 1, side: int = SIDE) -> torch.Tensor:
    """Images whose pixel (r, c) holds (r · side + c) / 1024, exactly, in [0, 1)."""
    code = torch.arange(side * side, dtype=torch.float32).reshape(side, side) / 1024
    return code.expand(n, channels, side, side).clone()


def corners(patches: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """(N, C, p, p) patches of coordinate images → (N, 2) top-left (row, col), after checking
    that every channel is one whole p × p block of the image."""
    p = patches.shape[-1]
    code = (patches * 1024).round().long()
    r0, c0 = code[:, :, 0, 0] // side, code[:, :, 0, 0] % side
    span = torch.arange(p)
    block = (r0[..., None, None] + span[:, None]) * side + c0[..., None, None] + span
    assert torch.equal(code, block)
    assert (r0 >= 0).all() and (r0 + p <= side).all() and (c0 >= 0).all() and (c0 + p <= side).all()
    return torch.stack([r0[:, 0], c0[:, 0]], dim=1)


def test_jittered_patches_stay_inside_with_the_gap_kept_and_the_jitter_bounded():
    torch.manual_seed(0)
    side, patch, gap, jitter = 28, 7, 2, 1
    rows, cols = jittered_starts(2000, side, 3, patch, patch + gap, 2 * jitter)
    for starts in (rows, cols):
        assert (starts >= 0).all() and (starts + patch <= side).all()
    grid_r = rows.reshape(-1, 3, 3) - torch.arange(3)[:, None] * (patch + gap)  # jitter + origin, per patch
    grid_c = cols.reshape(-1, 3, 3) - torch.arange(3)[None, :] * (patch + gap)
    for offset in (grid_r, grid_c):
        spread = offset.flatten(1).amax(1) - offset.flatten(1).amin(1)
        assert spread.max() == 2 * jitter  # each patch moves ±jitter around its place, no more
    gaps_r = (rows.reshape(-1, 3, 3)[:, 1:] - rows.reshape(-1, 3, 3)[:, :-1] - patch).unique()
    gaps_c = (cols.reshape(-1, 3, 3)[:, :, 1:] - cols.reshape(-1, 3, 3)[:, :, :-1] - patch).unique()
    expected = torch.arange(gap - 2 * jitter, gap + 2 * jitter + 1)
    assert torch.equal(gaps_r, expected) and torch.equal(gaps_c, expected)  # never overlapping, every gap drawn
    with pytest.raises(ValueError, match="spans 30 px"):
        jittered_starts(1, side, 3, 8, 10, 2)


def test_cut_patches_takes_the_blocks_at_the_given_corners():
    x = coordinate_images(2, channels=3)
    rows, cols = torch.tensor([[0, 5], [21, 3]]), torch.tensor([[0, 9], [2, 21]])
    patches = cut_patches(x, rows, cols, 7)
    assert patches.shape == (2, 2, 3, 7, 7)
    assert corners(patches.flatten(0, 1)).tolist() == [[0, 0], [5, 9], [21, 2], [3, 21]]


def test_each_pair_has_the_relative_position_its_label_names():
    patch, gap, jitter = 7, 2, 1
    method = _method(views=ViewConfig.none(), zoom=1.0, patch=patch, gap=gap, jitter=jitter, downsample=0.0)
    patches, z = method.pseudolabels(coordinate_images(300))
    assert patches.shape == (300 * 9, 1, patch, patch)
    assert torch.equal(z, torch.arange(8).repeat(300))
    # Corners flow through the same pairing as the features do: [centre (r, c), neighbour (r, c)].
    pairs = pair_features(corners(patches).reshape(300, 9, 2).float()).long()
    delta = pairs[:, 2:] - pairs[:, :2]                                    # neighbour − centre, (rows, cols)
    direction = torch.tensor(OFFSETS)[z]                                   # what label z promises
    off = delta - direction * (patch + gap)                                # the two patches' jitters
    assert torch.equal(off.unique(), torch.arange(-2 * jitter, 2 * jitter + 1))
    across = direction != 0                                                # rows apart / columns apart
    assert torch.equal(delta.sign()[across], direction[across])
    assert (delta.abs()[across] - patch >= gap - 2 * jitter).all()         # the gap, less both jitters, is kept
    assert (delta.abs()[~across] <= 2 * jitter).all()                      # same row / column, up to the jitter
    assert NEIGHBOURS[3] == 3 and NEIGHBOURS[4] == 5 and CENTRE == 4 and OFFSETS[0] == (-1, -1) and OFFSETS[7] == (1, 1)


def test_layout_shrinks_in_proportion_when_the_image_is_too_small():
    assert fit_layout(28, 7, 2, 1) == (7, 2, 1)
    assert fit_layout(600, 96, 48, 7) == (96, 48, 7)
    patch, gap, jitter = fit_layout(224, 96, 48, 7)                        # the paper's layout, 398 px
    assert (patch, gap, jitter) == (54, 27, 3)
    assert 3 * patch + 2 * gap + 2 * jitter <= 224 and gap >= 2 * jitter
    large = method_config("relative_position", RelativePosition.large_image_params)
    torch.manual_seed(0)
    method = RelativePosition(build_backbone("convnet-small", 3, 128), large, Views(ViewConfig.none()))
    patches, _ = method.pseudolabels(torch.rand(2, 3, 128, 128))
    side = method.layout(128)[0]
    assert side == 30 and patches.shape == (18, 3, side, side)


def test_colour_drop_never_drops_every_channel_and_skips_grey_images():
    torch.manual_seed(0)
    x = torch.rand(2000, 3, 5, 5)
    out = drop_channels(x, 1.0)
    kept = (out == x).flatten(2).all(2).sum(1)
    assert set(kept.tolist()) == {1, 2}                                    # 1 or 2 dropped, both drawn
    some = (drop_channels(x, 0.5) == x).flatten(2).all(2).sum(1)
    assert set(some.tolist()) == {1, 2, 3}
    grey = torch.rand(10, 1, 5, 5)
    assert drop_channels(grey, 1.0) is grey
    # The dropped channels: noise around the kept channels' mean with 1/100 of their spread.
    one = out[kept == 1][0]
    keep = (one == x[kept == 1][0]).flatten(1).all(1)
    kept_values, noise = one[keep], one[~keep]
    assert abs(noise.mean() - kept_values.mean()) < 0.01
    assert 0 < noise.std() < kept_values.std() / 30


def exact_blocks(patches: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """(N, C) bool: which channels of each patch are still an exact block of a coordinate image."""
    p = patches.shape[-1]
    code = (patches * 1024).round().long()
    span = torch.arange(p)
    block = ((code[:, :, :1, :1] // side + span[:, None]) * side + code[:, :, :1, :1] % side + span)
    return (code == block).flatten(2).all(2) & ((patches * 1024 - code).abs() < 1e-3).flatten(2).all(2)


def test_colour_drop_through_pseudolabels_only_for_colour_images():
    coloured = _method(channels=3, views=ViewConfig.none(), downsample=0.0, **UNZOOMED)
    patches, _ = coloured.pseudolabels(coordinate_images(50, channels=3))
    kept = exact_blocks(patches).sum(1)
    assert set(kept.tolist()) == {1, 2}
    grey = _method(channels=1, views=ViewConfig.none(), downsample=0.0, **UNZOOMED)
    assert exact_blocks(grey.pseudolabels(coordinate_images(20))[0]).all()  # nothing dropped


def test_downsampling_blurs_some_patches_and_keeps_their_size():
    torch.manual_seed(0)
    x = torch.rand(400, 1, 8, 8)
    out = downsample_some(x, 0.25, 0.5)
    changed = (out != x).flatten(1).any(1).float().mean()
    assert out.shape == x.shape and 0.15 < changed < 0.35
    assert downsample_some(x, 0.0, 0.5) is x
    flat = torch.full((4, 3, 8, 8), 0.3)
    torch.testing.assert_close(downsample_some(flat, 1.0, 0.5), flat)


def test_loss_is_the_cross_entropy_of_every_pair_computed_one_by_one():
    method = _method(channels=3)
    patches, z = method.pseudolabels(torch.rand(3, 3, SIDE, SIDE))
    method.eval()  # batch norm from running statistics: one pair at a time gives the same features
    loss, logs = method.loss(patches, z)
    feats = method.backbone(patches)
    terms = []
    for b in range(3):
        for k in range(8):
            pair = torch.cat([feats[b * 9 + 4], feats[b * 9 + NEIGHBOURS[k]]])[None]
            logits = method.head(pair)[0]
            terms.append(torch.logsumexp(logits, 0) - logits[z[b * 8 + k]])
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, F.cross_entropy(method.head(pair_features(feats.reshape(3, 9, -1))), z))
    assert 0 <= logs["pretext_acc"] <= 1


@pytest.mark.parametrize("channels", [1, 3])
def test_gradients_reach_backbone_and_head(channels):
    method = _method(channels=channels)
    loss, _ = method.loss(*method.pseudolabels(torch.rand(4, channels, SIDE, SIDE)))
    loss.backward()
    for part in (method.backbone, method.head):
        for name, p in part.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_zoom_cuts_the_grid_from_the_upsampled_image():
    method = _method(views=ViewConfig.none(), zoom=2.0, patch=14, gap=4, jitter=2, downsample=0.0)
    x = torch.rand(3, 1, SIDE, SIDE)
    patches, _ = method.pseudolabels(x)
    assert patches.shape == (3 * 9, 1, 14, 14)
    zoomed = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    # every patch is a 14 × 14 block of the 56 px image: find it there exactly
    blocks = F.unfold(zoomed, 14).transpose(1, 2)                          # (3, 43 · 43, 196)
    flat = patches.reshape(3, 9, 196)
    for i in range(3):
        assert all((blocks[i] - f).abs().amax(1).min() < 1e-6 for f in flat[i])


def test_bad_settings_are_rejected():
    with pytest.raises(SsrlError, match="twice the jitter"):
        _method(gap=1, jitter=1)
    with pytest.raises(SsrlError, match="zoom"):
        _method(zoom=0.5)
    with pytest.raises(SsrlError, match="probability"):
        _method(channel_drop=1.5)


def test_tiny_run_through_the_engine(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, SIDE, SIDE), dtype=np.uint8))
    run = pretrain(str(data), "relative_position", out=tmp_path / "run", epochs=1, batch_size=8,
                   params={"head_hidden": 32}, progress=False, log_every_n_steps=1)
    assert (run / "backbone.safetensors").exists()
    assert "pretext_acc" in (run / "metrics.csv").read_text()
