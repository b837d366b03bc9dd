"""Weighted k-nearest-neighbour classification on frozen features.

The protocol of Wu et al. 2018 (arXiv:1805.01978), used by most SSL papers: cosine similarity
to a memory bank of training features, the k most similar vote for their labels with weight
exp(sim / T), T = 0.1. Two departures, both for data unlike ImageNet:

- **Centring**: features are centred on the bank's mean before cosine similarity. Features that
  all point one way (a random-init convnet's after ReLUs, mean pairwise cosine near 1) otherwise
  have every similarity near 1, and the vote compares directions no class owns. Centring is a
  translation: it changes nothing for features spread around the origin.
- **k adapted to the bank** (``adapted_k``): the protocol's k = 200 assumes thousands of
  images per class. A class with n members can fill at most n of the k votes, so on a small or
  unbalanced bank k = 200 lets the largest classes outvote every small one (a bank whose
  classes hold 17-540 images predicted only the two largest classes, for every backbone).
"""

import torch
import torch.nn.functional as F

PROTOCOL_K = 200
MIN_K = 10


def adapted_k(bank_labels: torch.Tensor, k_max: int = PROTOCOL_K) -> int:
    """The kNN k for a bank: the smallest class's size, at most ``k_max`` (the protocol's 200,
    reached when every class holds 200 or more) and at least ``MIN_K`` (or the whole bank when
    it is smaller): every class can then fill the neighbourhood of its own members."""
    smallest = int(torch.unique(bank_labels, return_counts=True)[1].min())
    return min(len(bank_labels), max(MIN_K, min(smallest, k_max)))


def knn_predict(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, num_classes: int,
                k: int = PROTOCOL_K, temperature: float = 0.1, chunk: int = 1024) -> torch.Tensor:
    """Predicted class (Q,) for each query feature (Q, D) from a bank (N, D) with labels (N,),
    both centred on the bank's mean. Similarities are float32 whatever the features' dtype."""
    mean = bank.float().mean(0)
    bank = F.normalize(bank.float() - mean, dim=1)
    k = min(k, len(bank))
    # One (chunk, N) buffer for every chunk's similarities: a fresh one each time (245 MB for
    # 60,000 rows) costs a page fault per 4 KB of it (BENCHMARKS.md, issue 21).
    buffer = torch.empty(min(chunk, len(query)), len(bank), device=bank.device)
    preds = []
    for start in range(0, len(query), chunk):
        q = F.normalize(query[start:start + chunk].float() - mean, dim=1)
        sim, idx = torch.mm(q, bank.T, out=buffer[:len(q)]).topk(k, dim=1)  # (q, k)
        votes = torch.zeros(len(q), num_classes, dtype=sim.dtype, device=sim.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def knn_top1(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor,
             k: int = PROTOCOL_K, temperature: float = 0.1) -> float:
    """Top-1 accuracy (a fraction) of weighted kNN."""
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    pred = knn_predict(bank, bank_labels, query, num_classes, k, temperature)
    return (pred == query_labels).float().mean().item()
