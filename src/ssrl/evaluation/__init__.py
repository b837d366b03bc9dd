"""Downstream protocols g_φ on a backbone h_θ: kNN and linear probe on frozen features.

Evaluation takes any module with a ``dim`` and never imports a pretext method.
"""

from ssrl.evaluation.features import extract_features
from ssrl.evaluation.knn import knn_predict, knn_top1
from ssrl.evaluation.linear import linear_probe_top1

PROTOCOLS = ("knn", "linear")

__all__ = ["PROTOCOLS", "extract_features", "knn_predict", "knn_top1", "linear_probe_top1"]
