"""The data's say on left-right flips (``ssrl.data.mirror``): off for data unlike its mirror image,
stated, recorded in the resolved views, and never over a choice the user made."""

import logging

import numpy as np
import pytest
import torch

from ssrl.config import RunConfig
from ssrl.data.mirror import FLIPS_OFF_ABOVE, MIN_ROWS, mirror_ratio
from ssrl.resolve import resolve


def _glyphs(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` 16×16 images of four handed shapes (an L, a J-hook, a flag, a diagonal step), each
    shifted by up to 2 px, with pixel noise: data whose mirror images look like none of it."""
    strokes = [[(slice(2, 12), slice(3, 5)), (slice(10, 12), slice(3, 10))],        # L
               [(slice(2, 12), slice(9, 11)), (slice(10, 12), slice(4, 11))],       # J
               [(slice(2, 13), slice(4, 6)), (slice(2, 6), slice(4, 11))],          # flag
               [(slice(2, 5), slice(2, 6)), (slice(5, 8), slice(5, 9)), (slice(8, 11), slice(8, 12))]]  # step
    g = np.random.default_rng(seed)
    out = np.zeros((n, 1, 16, 16), np.float32)
    for i in range(n):
        for rows, cols in strokes[i % len(strokes)]:
            out[i, 0, rows, cols] = 1.0
        out[i, 0] = np.roll(out[i, 0], tuple(g.integers(-2, 3, 2)), axis=(0, 1))
    out += g.normal(0, 0.1, out.shape)
    return torch.from_numpy((out.clip(0, 1) * 255).astype(np.uint8))


def test_handed_shapes_are_unlike_their_mirror_images():
    assert mirror_ratio(_glyphs(800)) > FLIPS_OFF_ABOVE


def test_data_that_holds_each_images_mirror_image_is_its_own_mirror():
    x = _glyphs(400)
    assert mirror_ratio(torch.cat([x, x.flip(-1)])) < 1.1


def test_near_duplicates_do_not_make_symmetric_data_look_handed():
    """Three copies of each image, with a little noise, and the mirror of each: the query's nearest
    images are its own copies (its mirror image has none), and the 5th neighbour discounts them."""
    x = torch.cat([_glyphs(200), _glyphs(200).flip(-1)])
    noisy = [(x.float() + torch.randn(x.shape, generator=torch.Generator().manual_seed(s)) * 3).clamp(0, 255)
             for s in range(3)]
    assert mirror_ratio(torch.cat(noisy).to(torch.uint8)) < 1.1


def test_too_few_images_to_tell():
    assert mirror_ratio(_glyphs(MIN_ROWS - 1)) is None


def test_the_answer_is_fixed_for_the_data():
    x = _glyphs(600)
    assert mirror_ratio(x) == mirror_ratio(x.clone())


@pytest.fixture(scope="module")
def glyphs(tmp_path_factory):
    path = tmp_path_factory.mktemp("mirror") / "glyphs.npy"
    np.save(path, _glyphs(800).numpy())
    return str(path)


def test_a_run_on_handed_data_gets_no_flips_and_says_so(glyphs, caplog):
    with caplog.at_level(logging.INFO, logger="ssrl"):
        run = resolve(RunConfig(data=glyphs, method="simclr"))
    assert run.views.hflip == 0.0 and run.config.views["hflip"] == 0.0
    said = [r.getMessage() for r in caplog.records if r.name == "ssrl" and "flips" in r.getMessage()]
    assert len(said) == 1 and "--view hflip=0.5" in said[0]


def test_the_users_flips_win_and_the_data_is_not_asked(glyphs, caplog, monkeypatch):
    import ssrl.modality.image as image

    monkeypatch.setattr(image, "mirror_ratio", lambda rows: pytest.fail("measured though the user chose"))
    with caplog.at_level(logging.INFO, logger="ssrl"):
        run = resolve(RunConfig(data=glyphs, method="simclr", views={"hflip": "0.5"}))
    assert run.views.hflip == 0.5
    assert not [r for r in caplog.records if r.name == "ssrl" and "flips" in r.getMessage()]


def test_a_resumed_run_keeps_its_resolved_flips(glyphs):
    first = resolve(RunConfig(data=glyphs, method="simclr")).config
    assert resolve(first).views == resolve(RunConfig(data=glyphs, method="simclr")).views


def test_symmetric_data_keeps_the_methods_flips(tmp_path):
    x = _glyphs(400).numpy()
    path = tmp_path / "both.npy"
    np.save(path, np.concatenate([x, x[..., ::-1]]))
    assert resolve(RunConfig(data=str(path), method="simclr")).views.hflip == 0.5
