"""k-means pseudolabels for clustering methods (DeepCluster, Caron et al. 2018, arXiv:1807.05520).

Features are PCA-reduced, whitened and L2-normalized (§3.3 of the paper), clustered with faiss's
k-means, and every sample is assigned its nearest centroid. A cluster left empty is refilled as
the paper does (§3.4): a random non-empty cluster's centroid, slightly perturbed, becomes the
empty one's, and the points of that cluster are reassigned between the two.
"""

import faiss
import numpy as np
import torch

from ssrl.errors import SsrlError

PERTURBATION = 1e-3  # relative size of the nudge that separates a split centroid from its twin


def pca_whiten(x: torch.Tensor, dim: int, eps: float = 1e-5) -> torch.Tensor:
    """Project x (N, D) on its top ``dim`` principal components, scale each to unit variance,
    then L2-normalize the rows. ``dim`` is capped at D."""
    x = x.double() - x.double().mean(dim=0)
    cov = x.T @ x / max(1, len(x) - 1)
    eigenvalues, vectors = torch.linalg.eigh(cov)  # ascending
    top = vectors[:, -dim:].flip(1), eigenvalues[-dim:].flip(0)
    reduced = x @ top[0] / (top[1].clamp_min(0) + eps).sqrt()
    return torch.nn.functional.normalize(reduced, dim=1).float()


def nearest_centroid(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the closest centroid (K, D), in Euclidean distance, of every row of x (N, D)."""
    return torch.cdist(x, centroids).argmin(dim=1)


def kmeans(x: torch.Tensor, k: int, iterations: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroids (k, D) and nearest-centroid assignments (N,) of x (N, D), no cluster empty."""
    if len(x) < k:
        raise SsrlError(f"k-means needs at least as many samples as clusters: {len(x)} samples, {k} clusters")
    data = np.ascontiguousarray(x.float().numpy())
    km = faiss.Kmeans(data.shape[1], k, niter=iterations, seed=seed, verbose=False,
                      max_points_per_centroid=max(256, -(-len(data) // k)))  # use every sample
    km.train(data)
    centroids = torch.from_numpy(km.centroids.copy())
    assignments = nearest_centroid(x.float(), centroids)
    return repair_empty_clusters(x.float(), centroids, assignments, torch.Generator().manual_seed(seed))


def repair_empty_clusters(x: torch.Tensor, centroids: torch.Tensor, assignments: torch.Tensor,
                          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Give every empty cluster a perturbed copy of a random non-empty centroid (one with at least
    two members, drawn in proportion to size) and split that cluster's points between the two."""
    centroids, assignments = centroids.clone(), assignments.clone()
    k = len(centroids)
    for empty in range(k):
        sizes = torch.bincount(assignments, minlength=k)
        if sizes[empty] > 0:
            continue
        splittable = (sizes >= 2).double() * sizes.double()
        if splittable.sum() == 0:
            raise SsrlError(f"cannot fill empty cluster {empty}: no cluster has two points to split")
        donor = int(torch.multinomial(splittable, 1, generator=generator))
        nudge = PERTURBATION * (torch.rand(centroids.shape[1], generator=generator) - 0.5) * centroids[donor].norm()
        centroids[empty] = centroids[donor] + nudge
        centroids[donor] = centroids[donor] - nudge
        members = (assignments == donor).nonzero().squeeze(1)
        pair = centroids[[donor, empty]]
        choice = nearest_centroid(x[members], pair)
        if choice.min() == choice.max():  # the nudge did not separate them: split in halves
            choice = torch.arange(len(members)) % 2
        assignments[members] = torch.where(choice == 1, empty, donor)
    return centroids, assignments
