"""DAVIS's J (region IoU) and F (boundary F-measure) on masks with answers known by hand."""

import numpy as np
import pytest

from ssrl.evaluation.davis_metrics import (boundary, contour_accuracy, region_similarity, scored_frames,
                                           video_scores)


def box(top, left, height, width, side=100):
    mask = np.zeros((side, side), bool)
    mask[top:top + height, left:left + width] = True
    return mask


def test_identical_masks_score_one_and_disjoint_ones_zero():
    a = box(10, 10, 20, 30)
    assert region_similarity(a, a) == 1.0 and contour_accuracy(a, a) == 1.0
    b = box(60, 60, 20, 20)
    assert region_similarity(a, b) == 0.0 and contour_accuracy(a, b) == 0.0


def test_a_hand_computed_iou():
    """A 2×2 square inside a 2×3 rectangle: 4 shared pixels of 6."""
    assert region_similarity(box(1, 1, 2, 2, side=8), box(1, 1, 2, 3, side=8)) == pytest.approx(4 / 6)
    # two 10×10 squares overlapping in a 5×10 band: 50 / 150
    assert region_similarity(box(0, 0, 10, 10), box(5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_empty_masks():
    empty = np.zeros((20, 20), bool)
    assert region_similarity(empty, empty) == 1.0 and contour_accuracy(empty, empty) == 1.0
    assert region_similarity(empty, box(2, 2, 5, 5, side=20)) == 0.0
    assert contour_accuracy(empty, box(2, 2, 5, 5, side=20)) == 0.0


def test_boundary_pixels_differ_from_a_right_lower_or_diagonal_neighbour():
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    expected = np.zeros((3, 3), bool)
    expected[:2, :2] = True  # (0,0): its diagonal; (0,1): below; (1,0): right; (1,1): itself differs
    assert (boundary(mask) == expected).all()
    assert not boundary(np.ones((4, 4), bool)).any()  # the image's edge is no boundary


def test_contour_tolerance_is_ceil_of_0008_of_the_diagonal():
    """100×100: the diagonal is 141.4 px, so the tolerance is ceil(1.13) = 2 px: a square moved
    by 2 px keeps every boundary pixel matched; moved by 3 px (its two parallel sides) it does not."""
    a = box(20, 20, 30, 30)
    assert contour_accuracy(box(22, 20, 30, 30), a) == 1.0
    moved = contour_accuracy(box(23, 20, 30, 30), a)
    assert 0 < moved < 1


def test_void_pixels_are_left_out():
    true, pred = box(0, 0, 10, 10, side=20), box(0, 0, 10, 15, side=20)
    void = np.zeros((20, 20), bool)
    void[:, 10:] = True
    assert region_similarity(pred, true) == pytest.approx(100 / 150)
    assert region_similarity(pred, true, void) == 1.0 and contour_accuracy(pred, true, void) == 1.0


def test_video_scores_skip_the_first_and_last_frames_as_davis_does():
    assert scored_frames(np.ones(5, bool)) == [1, 2, 3]
    assert scored_frames(np.array([True, True, False, True, True])) == [1, 3]
    assert scored_frames(np.ones(2, bool)) == [1]
    true = np.stack([box(0, 0, 10, 10, side=20)] * 4).astype(np.uint8) * 3
    pred = true.copy()
    pred[1] = 0        # frame 1: object 3 lost (J = 0)
    pred[3] = 0        # the last frame is not scored
    j, f = video_scores(pred, true, np.ones(4, bool), [3])[3]
    assert (j, f) == (0.5, 0.5)  # mean of frames 1 (0) and 2 (1)
