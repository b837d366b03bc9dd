"""Masks: MAE's patch index sets (size, uniqueness, complement, independence across images,
uniformity) and the context encoder's pixel masks (central square geometry, blocks within the
area budget, regions of exact area and smooth shape; none ever empty or full)."""

import pytest
import torch

from ssrl.pretext.masks import (PIXEL_MASKS, central_square_mask, masked_count, random_block_mask,
                                random_patch_mask, random_region_mask)


@pytest.mark.parametrize("n, ratio", [(49, 0.75), (16, 0.75), (64, 0.5), (196, 0.9), (7, 0.2)])
def test_patch_mask_sizes_uniqueness_and_complement(n, ratio):
    masked, visible = random_patch_mask(8, n, ratio)
    m = round(ratio * n)
    assert masked.shape == (8, m) and visible.shape == (8, n - m)
    for i, v in zip(masked.tolist(), visible.tolist()):
        assert len(set(i)) == m and len(set(v)) == n - m          # unique
        assert sorted(i + v) == list(range(n))                    # the visible set is the complement
        assert i == sorted(i) and v == sorted(v)


def test_patch_masks_differ_between_images_and_are_uniform():
    masked, _ = random_patch_mask(8, 49, 0.75)
    assert len({tuple(row) for row in masked.tolist()}) == 8
    torch.manual_seed(0)
    masked, _ = random_patch_mask(4000, 16, 0.75)
    freq = torch.zeros(16).index_add_(0, masked.flatten(), torch.ones(masked.numel())) / 4000
    assert (freq - 0.75).abs().max() < 0.04  # every patch is masked equally often


def test_patch_mask_follows_the_generator():
    a = random_patch_mask(3, 49, 0.75, generator=torch.Generator().manual_seed(1))
    b = random_patch_mask(3, 49, 0.75, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("n, ratio", [(49, 0.0), (49, 1.0), (4, 0.1), (4, 0.9)])
def test_patch_ratios_that_mask_nothing_or_everything_are_refused(n, ratio):
    with pytest.raises(ValueError, match="at least one"):
        masked_count(n, ratio)


@pytest.mark.parametrize("h, w, side_h, side_w, top, left", [(28, 28, 14, 14, 7, 7), (16, 16, 8, 8, 4, 4),
                                                             (16, 28, 8, 14, 4, 7), (128, 128, 64, 64, 32, 32)])
def test_central_square_is_centred_with_a_quarter_of_the_area(h, w, side_h, side_w, top, left):
    mask = central_square_mask(3, h, w)
    assert mask.shape == (3, 1, h, w) and mask.dtype == torch.bool
    expected = torch.zeros(h, w, dtype=torch.bool)
    expected[top:top + side_h, left:left + side_w] = True
    assert all(torch.equal(m[0], expected) for m in mask)
    assert mask[0].sum() == h * w // 4


def test_blocks_stay_within_the_area_and_differ_between_images():
    torch.manual_seed(0)
    mask = random_block_mask(200, 28, 28, 0.25, block=0.25)  # blocks of 7 px, at most 4
    covered = mask.flatten(1).sum(1)
    assert (covered >= 49).all() and (covered <= 196).all()
    assert (covered < 196).any()  # overlaps happen
    assert len({tuple(m.flatten().tolist()) for m in mask[:20]}) == 20
    # every hidden pixel lies in a full 7 × 7 block of hidden pixels
    m = mask[:10].float()
    full_blocks = -torch.nn.functional.max_pool2d(-m, 7, stride=1) == 1  # top-left corners of hidden 7 × 7 squares
    cover = torch.nn.functional.conv_transpose2d(full_blocks.float(), torch.ones(1, 1, 7, 7)) > 0
    assert torch.equal(cover, mask[:10])


def test_a_block_larger_than_the_area_is_refused():
    with pytest.raises(ValueError, match="larger than the masked area"):
        random_block_mask(1, 28, 28, 0.1, block=0.5)


def test_regions_hide_exactly_the_area_in_smooth_blobs():
    torch.manual_seed(0)
    mask = random_region_mask(50, 28, 28, 0.25, cells=8)
    assert (mask.flatten(1).sum(1) == 196).all()
    assert len({tuple(m.flatten().tolist()) for m in mask}) == 50

    def boundary(m):  # hidden/visible neighbour pairs, a measure of how ragged a mask is
        m = m.float()
        return ((m[..., 1:, :] - m[..., :-1, :]).abs().sum() + (m[..., :, 1:] - m[..., :, :-1]).abs().sum()).item()

    scattered = torch.zeros(50, 784, dtype=torch.bool)
    scattered[torch.arange(50)[:, None], torch.rand(50, 784).argsort(1)[:, :196]] = True
    assert boundary(mask) < 0.4 * boundary(scattered.view(50, 1, 28, 28))


@pytest.mark.parametrize("kind", sorted(PIXEL_MASKS))
@pytest.mark.parametrize("size, area", [(4, 0.25), (5, 0.1), (12, 0.25), (28, 0.25), (28, 0.6), (32, 0.05)])
def test_pixel_masks_are_never_empty_or_full(kind, size, area):
    torch.manual_seed(0)
    options = {"block": {"block": 0.2}}.get(kind, {})
    mask = PIXEL_MASKS[kind](300, size, size, area, **options)
    hidden = mask.flatten(1).sum(1)
    assert (hidden > 0).all() and (hidden < size * size).all()


@pytest.mark.parametrize("kind", sorted(PIXEL_MASKS))
def test_pixel_mask_areas_outside_zero_one_are_refused(kind):
    with pytest.raises(ValueError, match="fraction"):
        PIXEL_MASKS[kind](1, 8, 8, 1.0)
