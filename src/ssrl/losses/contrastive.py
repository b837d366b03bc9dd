"""Contrastive instance-discrimination losses: InfoNCE and its SimCLR form, NT-Xent."""

import torch
import torch.nn.functional as F

from ssrl.distributed import gather_with_grad, rank


def info_nce(
    query: torch.Tensor,
    keys: torch.Tensor,
    positive: torch.Tensor,
    temperature: float,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE (van den Oord et al. 2018, arXiv:1807.03748): cross-entropy of picking each
    query's positive key among all keys by similarity / temperature.

    Args:
        query: (Q, D) embeddings; compared by dot product (L2-normalize first for cosine).
        keys: (K, D) candidate embeddings.
        positive: (Q,) index into ``keys`` of each query's positive.
        temperature: τ > 0.
        exclude: optional (Q,) index into ``keys`` of a key to leave out of the
            query's denominator (the query itself when queries are also keys).
    Returns:
        mean over queries of ``-log softmax(query·keys/τ)[positive]``.
    """
    if query.ndim != 2 or keys.ndim != 2 or query.shape[1] != keys.shape[1]:
        raise ValueError(f"info_nce: query {tuple(query.shape)} and keys {tuple(keys.shape)} must be (Q, D), (K, D)")
    if temperature <= 0:
        raise ValueError(f"info_nce: temperature must be > 0, got {temperature}")
    logits = (query / temperature) @ keys.T  # (Q, K); scaling the query is cheaper than the logits
    if exclude is not None:
        logits = logits.index_put((torch.arange(len(query), device=query.device), exclude),
                                  torch.tensor(float("-inf"), device=logits.device, dtype=logits.dtype))
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # softmax in half precision loses the small negatives' mass
    return F.cross_entropy(logits, positive)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (Chen et al. 2020,
    arXiv:2002.05709, eq. 1): for 2N views, ℓ(i, j) = -log exp(s_ij/τ) / Σ_{k≠i} exp(s_ik/τ)
    with s the cosine similarity; the loss is the mean of ℓ over all 2N anchors.

    Args:
        z1, z2: (B, D) projections of the two views of the same B images, on this process.
            Under DDP the other processes' views are gathered as extra negatives and this
            process computes the terms of its own 2B anchors; the mean over processes is the
            loss of the global batch.
        temperature: τ.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent: z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)} must both be (B, D)")
    b = len(z1)
    local = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D): view 1 then view 2
    # Global keys laid out as [view 1 of all processes, view 2 of all processes].
    k1 = gather_with_grad(local[:b])
    k2 = gather_with_grad(local[b:])
    keys = torch.cat([k1, k2])  # (2·W·B, D)
    n = len(k1)
    own = torch.arange(b, device=z1.device) + rank() * b  # global index of this process's images
    self_idx = torch.cat([own, own + n])
    positive = torch.cat([own + n, own])
    return info_nce(local, keys, positive, temperature, exclude=self_idx)
