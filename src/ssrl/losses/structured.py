"""Batch-structured metric-learning losses, which score every pair in a batch at once:
lifted structured (Oh Song et al. 2016) and N-pair (Sohn 2016)."""

import torch
import torch.nn.functional as F

from ssrl.losses._distance import pairwise_distances


def lifted_structured(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Lifted structured loss (Oh Song, Xiang, Jegelka & Savarese, "Deep Metric Learning
    via Lifted Structured Feature Embedding", CVPR 2016, arXiv:1511.06452, eq. 4).

    With D_ij = ‖f_i − f_j‖₂, P the positive pairs (same label, i ≠ j) and N the negative
    pairs (different labels), each positive pair is compared with the hardest negatives of
    both its ends through a smooth maximum:

        J_ij = log( Σ_{(i,k)∈N} exp(α − D_ik) + Σ_{(j,l)∈N} exp(α − D_jl) ) + D_ij
        L    = 1 / (2|P|) · Σ_{(i,j)∈P} max(0, J_ij)²

    J_ij is symmetric, so counting P as ordered or unordered pairs gives the same L; we sum
    over unordered pairs i < j. The log term is computed as logaddexp of the per-sample
    logsumexps, so large α − D never overflows.

    Args:
        embeddings: (N, D) embeddings f_i (the paper does not normalize them).
        labels: (N,) class of each embedding; the batch needs at least one pair sharing a
            label and at least two distinct labels.
        margin: α > 0 (1 in the paper).
    Returns:
        scalar loss.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"lifted_structured: embeddings {tuple(embeddings.shape)} must be (N, D)")
    if labels.shape != (len(embeddings),):
        raise ValueError(f"lifted_structured: labels {tuple(labels.shape)} must be ({len(embeddings)},)")
    if margin <= 0:
        raise ValueError(f"lifted_structured: margin must be > 0, got {margin}")
    same = labels[:, None] == labels[None, :]  # (N, N)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = torch.triu(same & ~eye)  # (N, N) unordered positive pairs i < j
    n_positive = int(positive.sum())
    if n_positive == 0:
        raise ValueError("lifted_structured: no two embeddings share a label, so there is no positive pair")
    if bool(same.all()):
        raise ValueError("lifted_structured: all labels are equal, so there is no negative pair")
    d = pairwise_distances(embeddings)  # (N, N)
    # Every sample has a negative (there are two labels), so each row has a finite term.
    neg = (margin - d).masked_fill(same, float("-inf")).logsumexp(dim=1)  # (N,)
    j = torch.logaddexp(neg[:, None], neg[None, :]) + d  # (N, N) J_ij for every pair
    hinge = F.relu(j).pow(2).masked_fill(~positive, 0.0)
    return hinge.sum() / (2 * n_positive)


def n_pair(anchors: torch.Tensor, positives: torch.Tensor, l2_reg: float = 0.0) -> torch.Tensor:
    """Multi-class N-pair loss (Sohn, "Improved Deep Metric Learning with Multi-class
    N-pair Loss Objective", NeurIPS 2016): each anchor f_i is scored against the
    positives of all N classes in the batch, its own f⁺_i and the other classes' f⁺_j,
    which serve as its negatives:

        L = 1/N Σ_i log(1 + Σ_{j≠i} exp(f_iᵀf⁺_j − f_iᵀf⁺_i))
            + l2_reg · 1/N Σ_i (‖f_i‖² + ‖f⁺_i‖²)

    The first term equals softmax cross-entropy over the logits f_iᵀf⁺_j with target i,
    which is how it is computed. The second is the paper's L2 penalty on the (unnormalized)
    embeddings; the paper gives no exact scaling, so ours is the weight
    times the mean squared norm of an anchor plus that of a positive.

    Args:
        anchors: (N, D) one anchor embedding per class; all N classes distinct.
        positives: (N, D) row i is a positive of anchor i (same class, another example).
        l2_reg: weight ≥ 0 of the L2 penalty (0: off).
    Returns:
        scalar loss.
    """
    if anchors.ndim != 2 or anchors.shape != positives.shape:
        raise ValueError(
            f"n_pair: anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} must both be (N, D)"
        )
    if len(anchors) == 0:
        raise ValueError("n_pair: need at least one (anchor, positive) pair")
    if l2_reg < 0:
        raise ValueError(f"n_pair: l2_reg must be >= 0, got {l2_reg}")
    logits = anchors @ positives.T  # (N, N): logits[i, j] = f_i·f⁺_j
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # softmax in half precision loses the small negatives' mass
    target = torch.arange(len(anchors), device=anchors.device)
    loss = F.cross_entropy(logits, target)
    if l2_reg > 0:
        squared_norms = anchors.pow(2).sum(dim=1) + positives.pow(2).sum(dim=1)  # (N,)
        loss = loss + l2_reg * squared_norms.mean()
    return loss
