"""Views and ViewConfig: shapes, dtypes, identity, per-sample independence, seeding."""

import pytest
import torch

from ssrl.errors import SsrlError
from ssrl.views import ViewConfig, Views

SHAPES = [(8, 1, 28, 28), (8, 3, 32, 32)]


def batch(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def full_config(**changes) -> ViewConfig:
    """Every op switched on, so the tests cover the whole pipeline."""
    return ViewConfig(**{"blur": 0.5, "solarize": 0.2, **changes})


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "cfg", [ViewConfig.simclr(), full_config(), full_config(size=20)], ids=["simclr", "all", "size20"]
)
def test_shape_dtype_range(shape, cfg):
    x = batch(shape)
    y = Views(cfg)(x)
    side = cfg.size or shape[-1]
    assert y.shape == (shape[0], shape[1], side, side)
    assert y.dtype == x.dtype
    assert 0 <= y.min() and y.max() <= 1
    assert torch.equal(x, batch(shape)), "the input must not be modified in place"


def test_non_square_input_gives_square_views():
    x = batch((4, 3, 32, 48))
    assert Views(ViewConfig.simclr())(x).shape == (4, 3, 32, 32)
    # With the crop switched off, the view is the centred square.
    assert torch.allclose(Views(ViewConfig.none())(x), x[..., 8:40], atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_identity_config_returns_input(shape):
    x = batch(shape)
    assert torch.equal(Views(ViewConfig.none())(x), x)


@pytest.mark.parametrize("shape", SHAPES)
def test_samples_are_independent(shape):
    """Sixteen copies of one image get sixteen different views."""
    x = batch((1, *shape[1:])).expand(16, -1, -1, -1).contiguous()
    torch.manual_seed(0)
    y = Views(full_config())(x).flatten(1)
    distances = torch.cdist(y, y)
    off_diagonal = distances[~torch.eye(16, dtype=torch.bool)]
    assert off_diagonal.min() > 1e-3


@pytest.mark.parametrize("shape", SHAPES)
def test_seed_repeats_views(shape):
    x, views = batch(shape), Views(full_config())
    torch.manual_seed(1)
    a = views(x)
    torch.manual_seed(1)
    b = views(x)
    c = views(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_one_channel_with_simclr_preset():
    x = batch((8, 1, 28, 28))
    y = Views(ViewConfig.simclr())(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_low_precision_input_follows_float32(dtype, shape):
    """Parameters are drawn in float32, so one seed gives the same views up to rounding."""
    x = batch(shape)
    views = Views(full_config())
    torch.manual_seed(2)
    reference = views(x)
    torch.manual_seed(2)
    y = views(x.to(dtype))
    assert y.dtype == dtype and y.shape == reference.shape
    assert (y.float() - reference).abs().mean() < 0.01


def test_channels_last_kept():
    x = batch((8, 3, 32, 32)).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    y = Views(full_config())(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    assert torch.allclose(y, Views(full_config())(x.contiguous()), atol=1e-6)


def test_views_module_has_no_parameters_and_prints_config():
    views = Views(ViewConfig.simclr())
    assert list(views.parameters()) == [] and "crop_scale" in repr(views)


@pytest.mark.parametrize(
    "changes", [{"hflip": 1.5}, {"jitter": -0.1}, {"hue": 0.7}, {"crop_scale": (0.0, 1.0)}, {"crop_scale": (0.5, 0.2)},
                {"crop_ratio": (2.0, 1.0)}, {"size": 0}, {"brightness": -1.0},
                {"hflip": "often"}, {"crop_scale": "0.2,1"}, {"blur_sigma": (1.0,)}],
)
def test_config_rejects_bad_values(changes):
    with pytest.raises(SsrlError, match=next(iter(changes))):
        ViewConfig(**changes)


@pytest.mark.parametrize("x", [torch.rand(3, 8, 8), torch.randint(0, 255, (2, 3, 8, 8)), torch.rand(2, 4, 8, 8)])
def test_bad_input_is_a_clear_error(x):
    with pytest.raises(ValueError, match="Views"):
        Views(ViewConfig.simclr())(x)
