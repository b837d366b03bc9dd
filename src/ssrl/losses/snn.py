"""Soft nearest neighbours loss (Frosst, Papernot & Hinton 2019)."""

import torch

from ssrl.losses._distance import pairwise_distances


def soft_nearest_neighbours(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Soft nearest neighbours loss (Frosst, Papernot & Hinton, "Analyzing and Improving
    Representations with the Soft Nearest Neighbor Loss", ICML 2019, arXiv:1902.01889):
    how entangled the classes are, i.e. minus the log-probability that a sample's
    stochastic nearest neighbour (picked ∝ exp(−‖x_i − x_j‖²/T)) shares its label:

        L = −1/N Σ_i log( Σ_{j≠i, y_j=y_i} exp(−‖x_i − x_j‖²/T) / Σ_{k≠i} exp(−‖x_i − x_k‖²/T) )

    Both sums are computed as logsumexps, so small T never underflows to log 0.

    A sample with no other sample of its label in the batch would have log 0 = −∞ as its
    term; such samples are left out of the mean (N counts only samples that have a
    same-label partner), though they still appear as neighbours in the others' terms.

    Args:
        embeddings: (N, D) embeddings x_i, compared by squared Euclidean distance.
        labels: (N,) class of each embedding; at least one label must occur twice.
        temperature: T > 0. The paper also uses the loss at the T that makes it
            smallest; that search over T is left to the caller.
    Returns:
        scalar loss.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"soft_nearest_neighbours: embeddings {tuple(embeddings.shape)} must be (N, D)")
    if labels.shape != (len(embeddings),):
        raise ValueError(f"soft_nearest_neighbours: labels {tuple(labels.shape)} must be ({len(embeddings)},)")
    if temperature <= 0:
        raise ValueError(f"soft_nearest_neighbours: temperature must be > 0, got {temperature}")
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    same = (labels[:, None] == labels[None, :]) & ~eye  # (N, N) same-label partners, j ≠ i
    has_partner = same.any(dim=1)  # (N,)
    if not bool(has_partner.any()):
        raise ValueError("soft_nearest_neighbours: no label occurs twice, so every term is log 0")
    # Keep only rows with a partner before the logsumexp: an all −∞ row would make its
    # backward NaN even though its term is dropped.
    logits = -pairwise_distances(embeddings, squared=True)[has_partner] / temperature  # (M, N)
    log_numerator = logits.masked_fill(~same[has_partner], float("-inf")).logsumexp(dim=1)  # (M,)
    log_denominator = logits.masked_fill(eye[has_partner], float("-inf")).logsumexp(dim=1)  # (M,)
    return (log_denominator - log_numerator).mean()
