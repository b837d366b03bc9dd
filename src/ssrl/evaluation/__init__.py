"""Downstream protocols g_φ on a backbone h_θ: kNN and linear probe on frozen features,
fine-tuning, few-shot / label-efficiency with from-scratch and random-init baselines, and label
propagation through videos (``propagation``, scored by ``davis_metrics``).

Evaluation takes any module with a ``dim`` and never imports a pretext method.
"""

from ssrl.evaluation.features import as_input, extract_features
from ssrl.evaluation.finetune import finetune_top1
from ssrl.evaluation.knn import knn_predict, knn_top1
from ssrl.evaluation.linear import linear_probe_top1

PROTOCOLS = ("knn", "linear", "finetune", "fewshot", "propagate")

__all__ = ["PROTOCOLS", "as_input", "extract_features", "finetune_top1", "knn_predict", "knn_top1", "linear_probe_top1"]
