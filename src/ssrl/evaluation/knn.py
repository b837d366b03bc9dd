"""Weighted k-nearest-neighbour classification on frozen features.

The protocol of Wu et al. 2018 (arXiv:1805.01978), used by most SSL papers: cosine similarity
to a memory bank of training features, the k most similar vote for their labels with weight
exp(sim / T). Defaults k = 200, T = 0.1.
"""

import torch
import torch.nn.functional as F


def knn_predict(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, num_classes: int,
                k: int = 200, temperature: float = 0.1, chunk: int = 1024) -> torch.Tensor:
    """Predicted class (Q,) for each query feature (Q, D) from a bank (N, D) with labels (N,)."""
    bank = F.normalize(bank.float(), dim=1)
    k = min(k, len(bank))
    preds = []
    for start in range(0, len(query), chunk):
        q = F.normalize(query[start:start + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)                       # (q, k)
        votes = torch.zeros(len(q), num_classes, dtype=sim.dtype, device=sim.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def knn_top1(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor,
             k: int = 200, temperature: float = 0.1) -> float:
    """Top-1 accuracy (a fraction) of weighted kNN."""
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    pred = knn_predict(bank, bank_labels, query, num_classes, k, temperature)
    return (pred == query_labels).float().mean().item()
