"""AMDIM's NCE between a source feature of one view and the local features of the other.

Bachman, Hjelm & Buchwalter 2019, "Learning Representations by Maximizing Mutual Information
Across Views" (arXiv:1906.00910), section 3: for image i, a source feature s_i (a global
feature, or one location of a local map) of view a is scored against every location l of the
target map t_j of view b of every image j in the batch, by dot product:
φ(i; j, l) = s_i · t_{j,l}. Each location of i's own map is a positive; every location of every
other image's map is a negative, and the loss of the positive (i, l) is

    −log exp φ(i; i, l) / (exp φ(i; i, l) + Σ_{j≠i, l'} exp φ(i; j, l')),

averaged over i and l. The paper's two stabilisers, with the constants of its public code:
scores are divided by √D, a penalty λ · mean(φ²) (λ = 0.05) over all scores keeps them small,
and the scores enter the softmax soft-clipped, c · tanh(φ / c) with c = 20.

Under DDP the target maps of every process are gathered (with their gradient), so the negatives
come from the global batch; each process computes the terms of its own sources, and the mean
over processes is the loss of the global batch.
"""

import torch

from ssrl.distributed import gather_with_grad, rank


def soft_clip(scores: torch.Tensor, clip: float) -> torch.Tensor:
    """c · tanh(scores / c): near the identity for |scores| ≪ c, bounded by ±c."""
    return clip * torch.tanh(scores / clip)


def local_nce(source: torch.Tensor, target: torch.Tensor, clip: float = 20.0,
              penalty: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """The NCE above and its score penalty, both scalars (add them for the training loss).

    Args:
        source: (B, D) one source vector per image of view a (already embedded).
        target: (B, D, L) the L target locations of each image's map of view b (embedded),
            the same B images in the same order, on this process.
        clip: c of the soft clipping; penalty: λ of the squared-score penalty.
    """
    if source.ndim != 2 or target.ndim != 3 or source.shape[:2] != target.shape[:2]:
        raise ValueError(f"local_nce: source {tuple(source.shape)} and target {tuple(target.shape)} "
                         "must be (B, D) and (B, D, L)")
    b, d, n_loc = target.shape
    keys = gather_with_grad(target)                                   # (W·B, D, L)
    raw = torch.einsum("id,jdl->ijl", source, keys) / d**0.5  # (B, W·B, L)
    if raw.dtype in (torch.float16, torch.bfloat16):
        raw = raw.float()  # the softmax in half precision loses the small negatives' mass
    reg = penalty * raw.pow(2).mean()
    scores = soft_clip(raw, clip)
    own = torch.arange(b, device=source.device) + rank() * b
    positive = scores[torch.arange(b, device=source.device), own]    # (B, L)
    others = torch.ones(scores.shape[:2], dtype=torch.bool, device=source.device)
    others[torch.arange(b, device=source.device), own] = False
    negatives = scores.masked_fill(~others[:, :, None], float("-inf")).flatten(1)  # (B, W·B·L)
    log_negatives = torch.logsumexp(negatives, dim=1, keepdim=True)  # (B, 1)
    nce = (torch.logaddexp(positive, log_negatives) - positive).mean()
    return nce, reg


__all__ = ["local_nce", "soft_clip"]
