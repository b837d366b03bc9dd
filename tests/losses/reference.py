"""Slow reference implementations of the losses, written from the papers' equations with loops."""

import math

import torch


def nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR eq. 1: views 2k and 2k+1 of image k; ℓ(i, j) = -log e^{s_ij/τ} / Σ_{k≠i} e^{s_ik/τ};
    L = 1/(2N) Σ_k [ℓ(2k, 2k+1) + ℓ(2k+1, 2k)], s the cosine similarity."""
    views = []
    for a, b in zip(z1, z2):
        views += [a, b]
    n2 = len(views)

    def s(i, j):
        return torch.dot(views[i], views[j]) / (views[i].norm() * views[j].norm())

    def ell(i, j):
        denominator = sum(torch.exp(s(i, k) / temperature) for k in range(n2) if k != i)
        return -torch.log(torch.exp(s(i, j) / temperature) / denominator)

    total = sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n2 // 2))
    return total / n2


def log_2n_minus_1(n: int) -> float:
    """NT-Xent of identical embeddings: every similarity is 1, so ℓ = log(2N - 1)."""
    return math.log(2 * n - 1)
