import pytest
import torch

from ssrl.components.patches import grid_patches, grid_starts


def test_starts_cover_the_side_evenly():
    assert grid_starts(28, 5, 12).tolist() == [0, 4, 8, 12, 16]
    assert grid_starts(256, 7, 64).tolist() == [0, 32, 64, 96, 128, 160, 192]  # CPC's ImageNet grid
    assert grid_starts(10, 1, 10).tolist() == [0]


def test_each_patch_is_the_image_window_at_its_start():
    x = torch.randn(2, 3, 28, 30)
    tiles = grid_patches(x, 5, 12)
    assert tiles.shape == (2, 5, 5, 3, 12, 12)
    rows, cols = grid_starts(28, 5, 12), grid_starts(30, 5, 12)
    for i in range(5):
        for j in range(5):
            r, c = rows[i], cols[j]
            torch.testing.assert_close(tiles[:, i, j], x[:, :, r:r + 12, c:c + 12], rtol=0, atol=0)


def test_a_patch_larger_than_the_image_is_rejected():
    with pytest.raises(ValueError, match="does not fit"):
        grid_starts(8, 3, 9)
