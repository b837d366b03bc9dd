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
# drives it to 0. Collapse to a few directions leaves the std (a batch-normalised output keeps
# every dimension's variance) but not the rank: SimSiam without its stop-gradient falls to a few
# percent of the largest possible rank, min(batch, D), and stays far above that with it
# (BENCHMARKS.md, "Collapse monitor"; benchmarks/collapse.py).
COLLAPSED_STD = 1e-3
COLLAPSED_RANK = 5.0             # directions, whatever the size
COLLAPSED_RANK_FRACTION = 0.05   # of min(batch, D): dimensional collapse


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
    """The figures a method logs to monitor collapse of its embeddings z (B, D); ``rank_ceiling``
    is the largest effective rank z can have, min(B, D)."""
    return {"embedding_std": embedding_std(z), "effective_rank": effective_rank(z),
            "rank_ceiling": torch.tensor(float(min(z.shape)))}


def collapse_message(std: float, rank: float | None = None, ceiling: float | None = None) -> str | None:
    """How an epoch's mean figures say the embeddings collapsed, or None: ``std`` under
    ``COLLAPSED_STD`` (to a point), or ``rank`` under ``COLLAPSED_RANK`` or under
    ``COLLAPSED_RANK_FRACTION`` of its ``ceiling`` (to a few directions)."""
    rank_text = "" if rank is None else f", effective rank {rank:.1f}" + (f" of at most {ceiling:.0f}" if ceiling else "")
    if std < COLLAPSED_STD:
        return f"to a point (embedding_std {std:.1e}{rank_text}; spread embeddings give about 1/sqrt(dim))"
    limit = max(COLLAPSED_RANK, COLLAPSED_RANK_FRACTION * ceiling) if ceiling else COLLAPSED_RANK
    if rank is not None and rank < limit:
        return (f"to a few directions (embedding_std {std:.1e}{rank_text}, under {limit:.1f}; spread embeddings "
                f"use a large share of it)")
    return None


def warn_if_collapsed(std: float, rank: float | None, epoch: int, ceiling: float | None = None) -> bool:
    """Warn (and return True) when an epoch's figures say the embeddings collapsed (``collapse_message``)."""
    message = collapse_message(std, rank, ceiling)
    if message is None:
        return False
    warnings.warn(f"epoch {epoch}: the embeddings have collapsed {message}; the features are likely useless",
                  RuntimeWarning, stacklevel=2)
    return True
