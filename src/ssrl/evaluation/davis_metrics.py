"""The DAVIS benchmark's measures of a video segmentation (Perazzi et al. 2016, "A benchmark
dataset and evaluation methodology for video object segmentation"; Pont-Tuset et al. 2017).

- Region similarity J: the intersection over union of the predicted and the true mask of one
  object in one frame; 1 when both are empty.
- Contour accuracy F: the F-measure of the masks' boundaries (Martin et al. 2004). A pixel is on a
  mask's boundary when it differs from its right, lower or lower-right neighbour (neighbours past
  the image's edge count as equal to it). A predicted boundary pixel is correct when a true
  boundary pixel lies within ``ceil(0.008 × the image's diagonal)`` px (a disk), and the other way
  round for recall. Both boundaries empty: 1; one empty: 0.

Void pixels (DAVIS's id 255) are cleared from both masks first. A video's score per object is
the mean over its scored frames; DAVIS's semi-supervised protocol scores every annotated frame
but the first (given) and the last. ``video_scores`` does that for one video; a data set's J is
the mean over all its videos' objects, F likewise, and J&F their mean.
"""

import math

import numpy as np
from scipy import ndimage

BOUNDARY_TOLERANCE = 0.008  # of the image's diagonal: DAVIS's


def region_similarity(pred: np.ndarray, true: np.ndarray, void: np.ndarray | None = None) -> float:
    """J: |pred ∩ true| / |pred ∪ true| of two (H, W) boolean masks; 1 when both are empty."""
    pred, true = _cleared(pred, void), _cleared(true, void)
    union = np.logical_or(pred, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, true).sum() / union)


def boundary(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that differ from their right, lower or lower-right neighbour."""
    padded = np.pad(mask.astype(bool), ((0, 1), (0, 1)), mode="edge")
    here = padded[:-1, :-1]
    return (here != padded[:-1, 1:]) | (here != padded[1:, :-1]) | (here != padded[1:, 1:])


def disk(radius: int) -> np.ndarray:
    """The (2r+1, 2r+1) structuring element of the offsets within ``radius`` (Euclidean)."""
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def contour_accuracy(pred: np.ndarray, true: np.ndarray, void: np.ndarray | None = None,
                     tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """F: the boundary F-measure of two (H, W) boolean masks (see the module's docstring)."""
    pred_b, true_b = boundary(_cleared(pred, void)), boundary(_cleared(true, void))
    n_pred, n_true = int(pred_b.sum()), int(true_b.sum())
    if n_pred == 0 and n_true == 0:
        return 1.0
    if n_pred == 0 or n_true == 0:
        return 0.0
    radius = max(1, math.ceil(tolerance * math.hypot(*pred.shape)))
    rows, cols = np.nonzero(pred_b | true_b)  # only the boxes round the boundaries are measured
    box = (slice(max(rows.min() - radius, 0), rows.max() + radius + 1),
           slice(max(cols.min() - radius, 0), cols.max() + radius + 1))
    pred_b, true_b = pred_b[box], true_b[box]
    precision = np.logical_and(pred_b, within(true_b, radius)).sum() / n_pred
    recall = np.logical_and(true_b, within(pred_b, radius)).sum() / n_true
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def within(points: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) bool: pixels within ``radius`` (Euclidean) of a True pixel of ``points``: the
    dilation by ``disk(radius)``, through the distance transform (far faster for DAVIS's 8 px)."""
    return ndimage.distance_transform_edt(~points) <= radius


def _cleared(mask: np.ndarray, void: np.ndarray | None) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    return mask if void is None else mask & ~np.asarray(void, dtype=bool)


def scored_frames(annotated: np.ndarray) -> list[int]:
    """The frames DAVIS scores: the annotated ones but the first and the last frame of the video
    (a clip of two or fewer frames keeps its frames after the first, so that it is scored at all)."""
    last = len(annotated) - 1 if len(annotated) > 2 else len(annotated)
    return [t for t in range(1, last) if annotated[t]]


def video_scores(pred: np.ndarray, true: np.ndarray, annotated: np.ndarray, objects: list[int],
                 void_id: int = 255) -> dict[int, tuple[float, float]]:
    """{object id: (J, F)}, each the mean over the scored frames, of predicted ids ``pred``
    (T, H, W) against the true ids ``true`` (T, H, W)."""
    frames = scored_frames(np.asarray(annotated))
    out = {}
    for obj in objects:
        j = [region_similarity(pred[t] == obj, true[t] == obj, true[t] == void_id) for t in frames]
        f = [contour_accuracy(pred[t] == obj, true[t] == obj, true[t] == void_id) for t in frames]
        out[obj] = (float(np.mean(j)) if j else float("nan"), float(np.mean(f)) if f else float("nan"))
    return out
