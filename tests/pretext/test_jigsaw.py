"""Jigsaw: every tile lies inside its cell, position k of a puzzle shows the tile its
permutation names (checked on images whose pixels encode their own coordinates); the
permutation set is a checkpointed buffer; the loss is the cross-entropy of each puzzle computed
one by one; gradients reach h_θ and k_γ; a tiny run writes permutations.npy."""

import numpy as np
import pytest
import torch

import ssrl.pretext.jigsaw  # noqa: F401  (registers "jigsaw")
from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.jigsaw import Jigsaw, normalize_tiles, shuffle_tiles
from ssrl.pretext.permutations import max_hamming_permutations
from ssrl.views import ViewConfig, Views

SIDE = 28
SMALL = {"num_permutations": 12, "head_hidden": 32}


def _method(channels=1, views=None, **params):
    torch.manual_seed(0)
    return Jigsaw(build_backbone("convnet-small", channels, SIDE, seed=0), method_config("jigsaw", {**SMALL, **params}),
                  Views(views or Jigsaw.default_views()))


def coordinate_images(n: int, side: int = SIDE) -> torch.Tensor:
    """1-channel images whose pixel (r, c) holds (r · side + c) / 1024, exactly, in [0, 1)."""
    return (torch.arange(side * side, dtype=torch.float32).reshape(side, side) / 1024).expand(n, 1, side, side).clone()


def corners(tiles: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """(N, 1, t, t) tiles of coordinate images → (N, 2) top-left (row, col), after checking that
    each is a whole t × t block of the image."""
    t = tiles.shape[-1]
    code = (tiles[:, 0] * 1024).round().long()
    r0, c0 = code[:, 0, 0] // side, code[:, 0, 0] % side
    span = torch.arange(t)
    assert torch.equal(code, (r0[:, None, None] + span[:, None]) * side + c0[:, None, None] + span)
    return torch.stack([r0, c0], dim=1)


def test_each_position_shows_the_tile_its_permutation_names_from_inside_its_cell():
    method = _method(views=ViewConfig.none())
    cell, tile = method.layout(SIDE)
    assert (cell, tile) == (9, 7)
    n = 400
    puzzles, z = method.pseudolabels(coordinate_images(n))
    assert puzzles.shape == (n * 9, 1, tile, tile) and z.shape == (n,)
    assert z.min() >= 0 and z.max() < 12 and len(z.unique()) == 12
    at = corners(puzzles).reshape(n, 9, 2)                                  # corner of the tile at each position
    source = method.permutations[z]                                         # (n, 9) the grid cell each shows
    cell_r, cell_c = source // 3, source % 3
    leftover = SIDE - 3 * cell                                              # px the whole grid may shift
    for corner, index in ((at[..., 0], cell_r), (at[..., 1], cell_c)):
        inside = corner - index * cell                                      # offset of the tile in its cell
        assert inside.min() == 0 and inside.max() == cell - tile + leftover
        # within one image, the grid shift is shared: tiles move within their cells by 0..cell − tile
        assert ((inside.amax(1) - inside.amin(1)) <= cell - tile).all()
        assert (corner + tile <= (index + 1) * cell + leftover).all()


def test_shuffle_puts_tile_order_k_at_position_k():
    tiles = torch.arange(2 * 9).reshape(2, 9, 1) * 10
    order = torch.tensor([[8, 7, 6, 5, 4, 3, 2, 1, 0], [1, 0, 2, 3, 4, 5, 6, 7, 8]])
    assert shuffle_tiles(tiles, order)[..., 0].tolist() == [[80, 70, 60, 50, 40, 30, 20, 10, 0],
                                                            [100, 90, 110, 120, 130, 140, 150, 160, 170]]


def test_the_permutation_set_is_a_checkpointed_buffer_from_its_seed():
    method = _method()
    assert torch.equal(method.permutations, torch.from_numpy(max_hamming_permutations(12, 9, 0)))
    assert "permutations" in method.state_dict()
    other = _method(permutation_seed=1)
    assert not torch.equal(other.permutations, method.permutations)
    other.load_state_dict(method.state_dict())                             # a checkpoint's set wins
    assert torch.equal(other.permutations, method.permutations)


@pytest.mark.parametrize("tile_hidden", [0, 16])
def test_loss_is_the_cross_entropy_of_each_puzzle_computed_one_by_one(tile_hidden):
    method = _method(channels=3, tile_hidden=tile_hidden)
    puzzles, z = method.pseudolabels(torch.rand(3, 3, SIDE, SIDE))
    method.eval()  # batch norm from running statistics: one tile at a time gives the same features
    loss, logs = method.loss(puzzles, z)
    terms = []
    for b in range(3):
        feats = [method.tile_head(method.backbone(puzzles[b * 9 + k][None]))[0] for k in range(9)]  # position order
        assert feats[0].shape == ((tile_hidden or method.backbone.dim),)
        logits = method.head(torch.cat(feats)[None])[0]
        terms.append(torch.logsumexp(logits, 0) - logits[z[b]])
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
    assert 0 <= logs["pretext_acc"] <= 1


@pytest.mark.parametrize("channels, normalize, tile_hidden", [(1, False, 0), (3, True, 16)])
def test_gradients_reach_backbone_and_head(channels, normalize, tile_hidden):
    method = _method(channels=channels, normalize_tiles=normalize, tile_hidden=tile_hidden)
    loss, _ = method.loss(*method.pseudolabels(torch.rand(4, channels, SIDE, SIDE)))
    loss.backward()
    for part in (method.backbone, method.tile_head, method.head):
        for name, p in part.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_tile_normalisation():
    tiles = torch.rand(5, 9, 3, 4, 4) * 0.5 + 0.2
    out = normalize_tiles(tiles)
    torch.testing.assert_close(out.mean((-3, -2, -1)), torch.zeros(5, 9), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std((-3, -2, -1), correction=0), torch.ones(5, 9), atol=1e-4, rtol=0)
    flat = torch.full((2, 1, 4, 4), 0.3)
    flat[0, 0, 0, 0] += 1e-4                                               # all but flat: not blown up
    assert normalize_tiles(flat).abs().max() < 0.02


def test_the_papers_values_for_large_images():
    cfg = method_config("jigsaw", {**Jigsaw.large_image_params, "num_permutations": 100, "head_hidden": 16})
    method = Jigsaw(build_backbone("convnet-small", 3, 225), cfg, Views(ViewConfig.none()))
    assert method.layout(225) == (75, 64)                                  # the paper's cells and tiles
    assert cfg.normalize_tiles and Jigsaw.large_image_params["num_permutations"] == 1000


def test_bad_settings_are_rejected():
    with pytest.raises(SsrlError, match="num_permutations"):
        _method(num_permutations=1)
    with pytest.raises(SsrlError, match="tile_fraction"):
        _method(tile_fraction=1.5)
    with pytest.raises(SsrlError, match="tile_hidden"):
        _method(tile_hidden=-1)


def test_tiny_run_through_the_engine_writes_the_permutation_set(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, SIDE, SIDE), dtype=np.uint8))
    run = pretrain(str(data), "jigsaw", out=tmp_path / "run", epochs=1, batch_size=8,
                   params={**SMALL, "permutation_seed": 3}, progress=False, log_every_n_steps=1)
    saved = np.load(run / "permutations.npy", allow_pickle=False)
    assert np.array_equal(saved, max_hamming_permutations(12, 9, 3))
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert np.array_equal(state["method.permutations"].numpy(), saved)
    assert (run / "backbone.safetensors").exists() and "pretext_acc" in (run / "metrics.csv").read_text()
