"""Pair and triplet metric-learning losses: margin contrastive (Hadsell et al. 2006) and
triplet (FaceNet, Schroff et al. 2015)."""

import torch
import torch.nn.functional as F


def margin_contrastive(
    x1: torch.Tensor,
    x2: torch.Tensor,
    similar: torch.Tensor,
    margin: float = 1.0,
) -> torch.Tensor:
    """Margin contrastive loss of Hadsell, Chopra & LeCun, "Dimensionality Reduction by
    Learning an Invariant Mapping", CVPR 2006: similar pairs are pulled together,
    dissimilar pairs pushed apart until they are at least ``margin`` away.

    With d = ‖x1 − x2‖₂ (plain, not squared, Euclidean distance) and y = ``similar``:

        L = mean over pairs of  y · d² / 2  +  (1 − y) · max(0, m − d)² / 2

    Convention: y = 1 marks a *similar* pair. The paper writes Y = 0 for similar pairs,
    so our y is the paper's 1 − Y; the formula is otherwise the paper's, including the
    1/2 factors. The mean is over the N pairs.

    Args:
        x1, x2: (N, D) embeddings of the two members of each pair.
        similar: (N,) 1 (or True) for a similar pair, 0 (or False) for a dissimilar one.
        margin: m > 0; dissimilar pairs farther apart than m cost nothing.
    Returns:
        scalar loss.
    """
    if x1.ndim != 2 or x1.shape != x2.shape:
        raise ValueError(f"margin_contrastive: x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} must both be (N, D)")
    if similar.shape != (len(x1),):
        raise ValueError(f"margin_contrastive: similar {tuple(similar.shape)} must be ({len(x1)},), one flag per pair")
    if not ((similar == 0) | (similar == 1)).all():
        raise ValueError("margin_contrastive: similar must hold only 0/1 (or False/True)")
    if len(x1) == 0:
        raise ValueError("margin_contrastive: need at least one pair")
    if margin <= 0:
        raise ValueError(f"margin_contrastive: margin must be > 0, got {margin}")
    y = similar.to(x1.dtype)
    diff = x1 - x2
    d2 = (diff * diff).sum(dim=1)  # (N,) squared, so the similar term is smooth at d = 0
    d = torch.linalg.vector_norm(diff, dim=1)  # (N,) its gradient at d = 0 is 0, not NaN
    return (y * d2 / 2 + (1 - y) * F.relu(margin - d).pow(2) / 2).mean()


def triplet(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 0.2,
    squared: bool = True,
) -> torch.Tensor:
    """Triplet loss of FaceNet (Schroff, Kalenichenko & Philbin, CVPR 2015,
    arXiv:1503.03832): each anchor should be closer to its positive than to its
    negative by at least α:

        L = mean over triplets of  max(0, d(a, p) − d(a, n) + α)

    with d the squared Euclidean distance ‖·‖₂² as in the paper (α = 0.2 there, on
    L2-normalized embeddings; normalize before calling to follow it), or the plain
    distance ‖·‖₂ with ``squared=False``. Triplet selection (FaceNet's semi-hard
    negatives) is the caller's job: this function scores the triplets it is given.

    Args:
        anchor, positive, negative: (N, D) embeddings; row i of each forms triplet i.
        margin: α ≥ 0.
        squared: use squared distances (the paper) or plain distances.
    Returns:
        scalar loss.
    """
    if anchor.ndim != 2 or anchor.shape != positive.shape or anchor.shape != negative.shape:
        raise ValueError(
            f"triplet: anchor {tuple(anchor.shape)}, positive {tuple(positive.shape)} and "
            f"negative {tuple(negative.shape)} must all be (N, D)"
        )
    if len(anchor) == 0:
        raise ValueError("triplet: need at least one triplet")
    if margin < 0:
        raise ValueError(f"triplet: margin must be >= 0, got {margin}")
    if squared:
        d_ap = (anchor - positive).pow(2).sum(dim=1)  # (N,)
        d_an = (anchor - negative).pow(2).sum(dim=1)
    else:
        d_ap = torch.linalg.vector_norm(anchor - positive, dim=1)  # gradient 0 at d = 0
        d_an = torch.linalg.vector_norm(anchor - negative, dim=1)
    return F.relu(d_ap - d_an + margin).mean()
