"""Collapse monitors for joint-embedding methods without negatives (SimSiam, BYOL, DINO, ...).

A collapsed encoder maps every input to (nearly) the same point, or to a low-dimensional
subspace; the loss may still look fine. Two statistics of a batch of embeddings z (B, D) tell:

- ``embedding_std`` (Chen & He 2021, arXiv:2011.10566, §4.1): the per-dimension std over the
  batch of the L2-normalized embeddings, averaged over dimensions: about 1/sqrt(D) when they
  spread over the sphere, 0 when they collapse to one point;
- ``effective_rank`` (Roy & Vetterli 2007): exp of the entropy of the normalized singular values
  of the centred embeddings, between 1 (one direction) and min(B, D); dimensional collapse
  shows as a rank far below D even when the std is not 0.
"""

import warnings

import torch
import torch.nn.functional as F

# A spread D-d embedding has std about 1/sqrt(D): 0.011 even at D = 8192. Collapse to a point
# drives it to 0. Collapse to a few directions leaves the std but not the rank: SimSiam without
# its stop-gradient falls to a rank under COLLAPSED_RANK on digits, and stays far above it with
# it (BENCHMARKS.md, "Collapse monitor"; benchmarks/collapse.py).
COLLAPSED_STD = 1e-3
COLLAPSED_RANK = 5.0


@torch.no_grad()
def embedding_std(z: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of the batch std of the L2-normalized rows of z (B, D)."""
    return F.normalize(z.float(), dim=1).std(dim=0).mean()


@torch.no_grad()
def effective_rank(z: torch.Tensor) -> torch.Tensor:
    """exp(H(p)) with p the singular values of the centred z (B, D) divided by their sum."""
    s = torch.linalg.svdvals(z.float() - z.float().mean(dim=0))
    p = s / s.sum().clamp_min(1e-12)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return entropy.exp()


def collapse_stats(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The figures a method logs to monitor collapse of its embeddings z (B, D)."""
    return {"embedding_std": embedding_std(z), "effective_rank": effective_rank(z)}


def warn_if_collapsed(std: float, rank: float | None, epoch: int) -> bool:
    """Warn (and return True) when an epoch's mean ``embedding_std`` is under ``COLLAPSED_STD``
    or its mean ``effective_rank`` (when logged) under ``COLLAPSED_RANK``."""
    if std >= COLLAPSED_STD and (rank is None or rank >= COLLAPSED_RANK):
        return False
    rank_text = "" if rank is None else f", effective rank {rank:.1f}"
    warnings.warn(f"epoch {epoch}: the embeddings have collapsed (embedding_std {std:.1e}{rank_text}; spread "
                  f"embeddings give about 1/sqrt(dim) and a rank of tens); the features are likely useless",
                  RuntimeWarning, stacklevel=2)
    return True
