"""The figures of every protocol, from predictions: what ``ssrl.api.score`` returns per protocol.

Each protocol gives ``classification_metrics`` (top-1, balanced accuracy, how many classes it
predicted) of its test predictions; kNN adds the k it used (``adapted_k`` unless given), and the
frozen-feature protocols share the test features' ``feature_geometry``.
"""

import torch

from ssrl.evaluation.geometry import feature_geometry
from ssrl.evaluation.knn import adapted_k, knn_predict
from ssrl.evaluation.linear import linear_probe_predict
from ssrl.evaluation.metrics import classification_metrics, num_classes

FROZEN = ("knn", "linear")


def frozen_scores(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor,
                  protocols=FROZEN, k: int | None = None, temperature: float = 0.1, seed: int = 0) -> dict:
    """``{protocol: figures}`` for the frozen-feature protocols asked for, and ``"features"``: the
    geometry of the test features."""
    classes = num_classes(train_y, test_y)
    out = {}
    for protocol in protocols:
        if protocol == "knn":
            used_k = adapted_k(train_y) if k is None else min(k, len(train_f))
            pred = knn_predict(train_f, train_y, test_f, classes, used_k, temperature)
            out["knn"] = {**classification_metrics(pred, test_y), "k": used_k}
        elif protocol == "linear":
            out["linear"] = classification_metrics(linear_probe_predict(train_f, train_y, test_f, classes, seed=seed),
                                                   test_y)
    out["features"] = feature_geometry(test_f, seed)
    return out
