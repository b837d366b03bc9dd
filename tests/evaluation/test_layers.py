"""The per-layer readout (Zhang et al. 2016's probe of each layer): the grid rule, the feature it
computes checked against pooling the map by hand, and its errors."""

import pytest
import torch
from torch import nn

from ssrl.backbones import build_backbone
from ssrl.backbones.maps import features_and_maps
from ssrl.errors import SsrlError
from ssrl.evaluation import extract_features
from ssrl.evaluation.layers import DIMS, LayerReadout, grid_side


@pytest.mark.parametrize("channels,side,expected", [
    (32, 28, 16),   # 32 · 16² = 8,192 ≤ 9,216 < 32 · 17²
    (64, 14, 12),   # 64 · 12² = 9,216 exactly
    (128, 7, 7),    # 8 cells would fit, the map has 7
    (512, 4, 4),
    (20000, 9, 1),  # wider than DIMS: one cell, never zero
])
def test_grid_side_is_the_largest_square_within_the_dimensions_and_the_map(channels, side, expected):
    g = grid_side(channels, side)
    assert g == expected
    assert g == 1 or channels * g * g <= DIMS


def test_the_readout_is_the_chosen_map_block_averaged():
    backbone = build_backbone("convnet-small", 1, 28, seed=0).eval()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    readout = LayerReadout(backbone, 2, 28)  # 64 channels at 14 × 14 → a 12 × 12 grid
    with torch.no_grad():
        got = readout(x)
        chosen = features_and_maps(backbone, x)[1][1]
    assert readout.grid == 12 and got.shape == (4, 64 * 12 * 12)
    # Adaptive pooling from 14 to 12 cells: cell i averages rows floor(14i/12) .. ceil(14(i+1)/12) - 1.
    expected = torch.empty(4, 64, 12, 12)
    for i in range(12):
        r0, r1 = (14 * i) // 12, -((-14 * (i + 1)) // 12)
        for j in range(12):
            c0, c1 = (14 * j) // 12, -((-14 * (j + 1)) // 12)
            expected[:, :, i, j] = chosen[:, :, r0:r1, c0:c1].mean(dim=(2, 3))
    torch.testing.assert_close(got, expected.flatten(1))


def test_the_last_layer_at_one_cell_is_the_backbones_own_feature():
    backbone = build_backbone("convnet-small", 1, 28, seed=0).eval()
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    readout = LayerReadout(backbone, 3, 28, dims=128)  # 128 channels: one cell, the global average
    with torch.no_grad():
        torch.testing.assert_close(readout(x), backbone(x))


def test_extraction_through_the_readout_matches_its_forward():
    """``extract_features`` folds batch norm into the convolutions of a traced copy: the same
    features as the readout's own forward, up to float rounding."""
    backbone = build_backbone("convnet-small", 1, 28, seed=0)
    rows = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    readout = LayerReadout(backbone, 1, 28)
    with torch.no_grad():
        direct = readout.eval()(rows.float() / 255)
    torch.testing.assert_close(extract_features(readout, rows), direct, rtol=1e-4, atol=1e-5)


def test_layers_out_of_range_and_backbones_without_maps_are_refused():
    backbone = build_backbone("convnet-small", 1, 28, seed=0)
    with pytest.raises(SsrlError, match="has 3 feature maps"):
        LayerReadout(backbone, 4, 28)
    with pytest.raises(SsrlError, match="has 3 feature maps"):
        LayerReadout(backbone, 0, 28)
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(SsrlError, match="declares its feature maps"):
        LayerReadout(plain, 1, 28)
