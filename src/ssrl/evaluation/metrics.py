"""Classification figures of a protocol's predictions, and what they say about the data.

- ``top1``: the fraction of test rows predicted right;
- ``balanced_top1``: the mean over the test set's classes of each class's recall (Brodersen et
  al. 2010, "The balanced accuracy and its posterior distribution"): a classifier that predicts
  the largest class for every row scores 1 / (number of classes), whatever the class sizes;
- ``predicted_classes``: how many distinct classes the classifier predicted at all, beside
  ``classes``, the number present in the test set. A probe that names only a few of them has
  learned the class sizes, not the classes, and ``few_classes_warning`` says so.
"""

import math

import torch

UNBALANCED_RATIO = 1.5  # largest / smallest class: from here on top-1 and balanced accuracy part


def num_classes(*labels: torch.Tensor) -> int:
    """Classes a classifier needs for these label sets: the largest label + 1."""
    return int(max(y.max() for y in labels)) + 1


def balanced_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean per-class recall over the classes present in ``labels``."""
    recalls = [(pred[labels == c] == c).float().mean() for c in torch.unique(labels)]
    return torch.stack(recalls).mean().item()


def classification_metrics(pred: torch.Tensor, labels: torch.Tensor) -> dict:
    """``top1``, ``balanced_top1``, ``predicted_classes`` and ``classes`` of predictions (N,)."""
    return {"top1": (pred == labels).float().mean().item(), "balanced_top1": balanced_accuracy(pred, labels),
            "predicted_classes": int(torch.unique(pred).numel()), "classes": int(torch.unique(labels).numel())}


def few_classes_warning(metrics: dict, who: str) -> str | None:
    """A warning when a classifier predicted fewer than half of the test set's classes (or one
    class of several), else None. ``who`` names the classifier ("the pretrained linear probe")."""
    n, used = metrics["classes"], metrics["predicted_classes"]
    if n > 1 and (used == 1 or used < math.ceil(n / 2)):
        return (f"{who} predicted only {used} of the {n} classes: it has learned the class sizes, not the "
                f"classes; read balanced accuracy ({metrics['balanced_top1']:.3f}), not top-1 ({metrics['top1']:.3f})")
    return None


def class_counts(labels: torch.Tensor) -> torch.Tensor:
    """Rows per class, for the classes present."""
    return torch.unique(labels, return_counts=True)[1]


def is_unbalanced(*label_sets: torch.Tensor) -> bool:
    """True when in any of ``label_sets`` the largest class is ``UNBALANCED_RATIO`` times the smallest."""
    return any(int(c.max()) >= UNBALANCED_RATIO * int(c.min()) for c in map(class_counts, label_sets))
