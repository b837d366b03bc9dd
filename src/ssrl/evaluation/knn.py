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

The k most similar are found by a dense (chunk, N) product up to ``FAISS_OVER`` bank rows, and by
faiss's exact inner-product search (``IndexFlatIP``) above it, whose memory does not grow with
the bank beyond the bank itself.
"""

import faiss
import torch
import torch.nn.functional as F

PROTOCOL_K = 200
MIN_K = 10
FAISS_OVER = 100_000  # bank rows; a (1024, N) similarity buffer is 400 MB here


def adapted_k(bank_labels: torch.Tensor, k_max: int = PROTOCOL_K) -> int:
    """The kNN k for a bank: the smallest class's size, at most ``k_max`` (the protocol's 200,
    reached when every class holds 200 or more) and at least ``MIN_K`` (or the whole bank when
    it is smaller): every class can then fill the neighbourhood of its own members."""
    smallest = int(torch.unique(bank_labels, return_counts=True)[1].min())
    return min(len(bank_labels), max(MIN_K, min(smallest, k_max)))


def knn_predict(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, num_classes: int,
                k: int = PROTOCOL_K, temperature: float = 0.1, chunk: int = 1024,
                faiss_over: int = FAISS_OVER) -> torch.Tensor:
    """Predicted class (Q,) for each query feature (Q, D) from a bank (N, D) with labels (N,),
    both centred on the bank's mean. Similarities are float32 whatever the features' dtype."""
    mean = bank.float().mean(0)
    bank = F.normalize(bank.float() - mean, dim=1)
    k = min(k, len(bank))
    nearest = _faiss_nearest(bank, k) if len(bank) > faiss_over else _dense_nearest(bank, k, min(chunk, len(query)))
    preds = []
    for start in range(0, len(query), chunk):
        sim, idx = nearest(F.normalize(query[start:start + chunk].float() - mean, dim=1))  # (q, k) each
        votes = torch.zeros(len(sim), num_classes, dtype=sim.dtype, device=sim.device)
        votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def _dense_nearest(bank: torch.Tensor, k: int, chunk: int):
    """q (chunk, D) -> the k largest cosine similarities to the bank and their rows, by one
    matrix product into a (chunk, N) buffer reused for every chunk (a fresh one costs a page
    fault per 4 KB of it: BENCHMARKS.md, issue 21)."""
    buffer = torch.empty(chunk, len(bank), device=bank.device)
    return lambda q: torch.mm(q, bank.T, out=buffer[:len(q)]).topk(k, dim=1)


def _faiss_nearest(bank: torch.Tensor, k: int):
    """As ``_dense_nearest``, by faiss's exact inner-product index over the bank (on the CPU)."""
    index = faiss.IndexFlatIP(bank.shape[1])
    index.add(bank.cpu().numpy())

    def nearest(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sim, idx = index.search(q.cpu().numpy(), k)
        return torch.from_numpy(sim).to(q.device), torch.from_numpy(idx).to(q.device)
    return nearest


def knn_top1(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor,
             k: int = PROTOCOL_K, temperature: float = 0.1) -> float:
    """Top-1 accuracy (a fraction) of weighted kNN."""
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    pred = knn_predict(bank, bank_labels, query, num_classes, k, temperature)
    return (pred == query_labels).float().mean().item()
