"""Swapped prediction of cluster assignments (SwAV) and its equal-partition Sinkhorn codes.

Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster
Assignments", arXiv:2006.09882, §3.1 and Algorithm 1. The codes q of one view are computed
online from its prototype scores z·c by a few Sinkhorn-Knopp iterations that spread the batch
equally over the K prototypes (the equal-partition constraint that prevents the trivial
solution of every sample in one cluster); every other view predicts them (the swap).
"""

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ssrl.distributed import world_size
from ssrl.precision import in_float32


def _all_reduce(x: torch.Tensor, op=None) -> torch.Tensor:
    """Sum (or ``op``) of ``x`` over processes, in place; the identity in one process."""
    if world_size() > 1:
        dist.all_reduce(x, op=op if op is not None else dist.ReduceOp.SUM)
    return x


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """The codes Q (B, K) of Algorithm 1 (``distributed_sinkhorn``) for prototype scores (B, K).

    Q = exp(scores / ε) scaled to sum to 1; then, ``iterations`` times, every prototype's
    column is scaled to total 1/K and every sample's row to 1/B; finally Q × B, so that each
    sample's row is a distribution over the prototypes (sums to 1) and each prototype holds
    about B/K of the mass (exactly in the limit of many iterations).

    Under DDP the column sums, the total and B are all-reduced: the scores of all processes
    form one global batch (local batches may differ in size) and each process gets its own
    rows of the global Q. Without a process group it is the plain algorithm on ``scores``.

    Args:
        scores: (B, K) this process's scores z·c (cosines, for unit z and c); no gradient.
        epsilon: ε, the entropy weight (the paper: 0.05); smaller is closer to hard codes.
        iterations: Sinkhorn-Knopp iterations (the paper: 3).

    Returns:
        Q (B, K) in float32 (float64 inputs stay float64), no gradient.
    """
    if scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 1:
        raise ValueError(f"sinkhorn: scores must be (B, K) with B, K >= 1, got {tuple(scores.shape)}")
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"sinkhorn: epsilon must be > 0 and iterations >= 1, got {epsilon} and {iterations}")
    # float64 where the device has it: exp(s/ε) spans e^{±20} for cosines at ε = 0.05, and the
    # sums run over the whole global batch. MPS has no float64.
    dtype = torch.float32 if scores.device.type == "mps" else torch.float64
    s = scores.detach().to(dtype) / epsilon
    # A constant shift of all scores cancels in the first normalization; the global maximum
    # keeps exp ≤ 1 (no overflow) and gives every process the same shift.
    top = _all_reduce(s.max().clone(), dist.ReduceOp.MAX)
    q = torch.exp(s - top)                                          # (B, K)
    stats = _all_reduce(torch.stack([q.sum(), q.new_tensor(float(len(q)))]))  # total, B
    q /= stats[0]
    b, k = stats[1], q.shape[1]
    tiny = torch.finfo(dtype).tiny  # an underflowed column or row stays 0 rather than NaN
    for _ in range(iterations):
        q /= _all_reduce(q.sum(dim=0, keepdim=True)).clamp_min(tiny) * k  # each prototype: 1/K
        q /= q.sum(dim=1, keepdim=True).clamp_min(tiny) * b             # each sample: 1/B
    return (q * b).to(torch.promote_types(scores.dtype, torch.float32))


def _stacked(tensors: Sequence[torch.Tensor], what: str) -> torch.Tensor:
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise ValueError(f"swav_loss: {what} must be a non-empty list of (B, K) tensors, one per view")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"swav_loss: every view of {what} must be the same (B, K), got {sorted(shapes)}")
    return torch.stack(list(tensors))  # (V, B, K)


@in_float32  # the log-softmax over K prototypes, as the contrastive losses' softmax
def swav_loss(scores: Sequence[torch.Tensor], codes: Sequence[torch.Tensor], temperature: float = 0.1) -> torch.Tensor:
    """SwAV's swapped prediction (eq. 1-3): for each view s with codes q_s and every other view
    t, ℓ(z_t, q_s) = −Σ_k q_s[k] log p_t[k] with p_t = softmax(z_t·c / τ); the mean over the
    batch and over the pairs (s, t ≠ s).

    Args:
        scores: V tensors (B, K), the prototype scores z_t·c of every view (global and local).
        codes: A ≤ V tensors (B, K), the codes q (``sinkhorn``) of the first A views, in the
            same order (the paper: A = 2, the global views). They take no gradient.
        temperature: τ (the paper: 0.1).

    Returns:
        The scalar mean over the A·(V − 1) pairs. Under DDP each process takes the mean over
        its own rows; DDP's gradient average then gives the global batch's gradient (equal
        local batches), while the codes are already global (``sinkhorn``).
    """
    s = _stacked(scores, "scores")                      # (V, B, K)
    q = _stacked(codes, "codes").detach()               # (A, B, K)
    v, a = len(s), len(q)
    if q.shape[1:] != s.shape[1:]:
        raise ValueError(f"swav_loss: codes are {tuple(q.shape[1:])} per view, scores {tuple(s.shape[1:])}")
    if a > v or v < 2:
        raise ValueError(f"swav_loss: {a} coded and {v} scored views leave no pair of different views")
    log_p = F.log_softmax(s / temperature, dim=-1)      # (V, B, K)
    # Σ_{t≠s} log p_t = (Σ_t log p_t) − log p_s: every pair without a (A, V, B, K) tensor.
    others = log_p.sum(dim=0) - log_p[:a]               # (A, B, K)
    return -(q.to(others.dtype) * others).sum() / (s.shape[1] * a * (v - 1))
