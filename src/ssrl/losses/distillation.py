"""Self-distillation without labels (DINO): a student matches a centred, sharpened teacher.

Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers",
arXiv:2104.14294, §3.1 and Algorithm 1. There are no negatives; collapse is avoided by the two
operations on the teacher's output alone: centring (subtracting a running mean c of its logits,
which alone would drive the output to uniform) and sharpening (a low temperature τ_t, which
alone would drive it to one-hot).
"""

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ssrl.distributed import world_size
from ssrl.precision import in_float32


def _stacked(logits: Sequence[torch.Tensor], what: str) -> torch.Tensor:
    if not isinstance(logits, (list, tuple)) or not logits:
        raise ValueError(f"dino_loss: {what} must be a non-empty list of (B, K) tensors, one per view")
    shapes = {tuple(t.shape) for t in logits}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"dino_loss: every view of {what} must be the same (B, K), got {sorted(shapes)}")
    return torch.stack(list(logits))  # (V, B, K)


@in_float32  # a softmax sharpened by τ_t = 0.04 of bf16 logits: in float32, as every softmax of logits
def teacher_distribution(teacher_logits: torch.Tensor, center: torch.Tensor,
                         teacher_temp: float | torch.Tensor) -> torch.Tensor:
    """P_t = softmax((t − c) / τ_t) over the last dimension: centred, then sharpened."""
    return F.softmax((teacher_logits - center) / teacher_temp, dim=-1)


@in_float32
def dino_loss(student_logits: Sequence[torch.Tensor], teacher_logits: Sequence[torch.Tensor],
              center: torch.Tensor, student_temp: float = 0.1,
              teacher_temp: float | torch.Tensor = 0.04) -> torch.Tensor:
    """DINO's L: the cross-entropy H(P_t, P_s) = −Σ_k P_t[k] log P_s[k], averaged over the batch
    and over every pair of a teacher view i and a student view j ≠ i (Algorithm 1).

    P_t = softmax((t − c) / τ_t) takes no gradient; P_s = softmax(s / τ_s).

    Args:
        student_logits: V_s tensors (B, K), the student's output for every view (global and
            local). The first V_t are the views the teacher saw, in the same order: teacher
            view i is never paired with student view i.
        teacher_logits: V_t tensors (B, K), the teacher's output for the global views.
        center: (K,) the running mean c of the teacher's logits (see ``update_center``).
        student_temp: τ_s (the paper: 0.1).
        teacher_temp: τ_t (the paper: 0.04 warmed up to 0.07); a float or a 0-d tensor.

    Returns:
        The scalar mean over the V_t·V_s − V_t pairs.
    """
    s = _stacked(student_logits, "student_logits")      # (V_s, B, K)
    t = _stacked(teacher_logits, "teacher_logits")      # (V_t, B, K)
    v_s, v_t = len(s), len(t)
    if t.shape[1:] != s.shape[1:]:
        raise ValueError(f"dino_loss: teacher views are {tuple(t.shape[1:])}, student views {tuple(s.shape[1:])}")
    if v_t > v_s or v_t * v_s - v_t == 0:
        raise ValueError(f"dino_loss: {v_t} teacher and {v_s} student views leave no pair of different views")
    if center.shape[-1] != s.shape[-1] or center.numel() != s.shape[-1]:
        raise ValueError(f"dino_loss: center must be (K,) = ({s.shape[-1]},), got {tuple(center.shape)}")
    log_p_s = F.log_softmax(s / student_temp, dim=-1)                  # (V_s, B, K)
    p_t = teacher_distribution(t.detach(), center.detach(), teacher_temp)  # (V_t, B, K)
    # Σ_{j≠i} log P_s^j = (Σ_j log P_s^j) − log P_s^i: every pair without a (V_t, V_s, B, K) tensor.
    others = log_p_s.sum(dim=0) - log_p_s[:v_t]                        # (V_t, B, K)
    total = -(p_t * others).sum()
    return total / (s.shape[1] * (v_t * v_s - v_t))


@torch.no_grad()
def update_center(center: torch.Tensor, teacher_logits: Sequence[torch.Tensor] | torch.Tensor,
                  momentum: float = 0.9) -> torch.Tensor:
    """The new centre c ← m·c + (1 − m)·mean of the teacher's logits over the GLOBAL batch (eq. 4).

    Under DDP the batch sum and the row count are all-reduced, so every process gets the same
    centre, equal to one process's on the whole global batch (local batches may differ in
    size); without a process group it is the local mean.

    Args:
        center: (K,) the current centre c.
        teacher_logits: (N, K), or a list of (B, K) tensors (one per view), the teacher's output.
        momentum: m (the paper: 0.9).
    """
    t = torch.cat(list(teacher_logits)) if isinstance(teacher_logits, (list, tuple)) else teacher_logits
    if t.ndim != 2 or t.shape[1] != center.shape[-1]:
        raise ValueError(f"update_center: teacher logits must be (N, {center.shape[-1]}), got {tuple(t.shape)}")
    dtype = torch.promote_types(t.dtype, torch.float32)  # a bf16 sum or count would be inexact
    stats = torch.cat([t.to(dtype).sum(dim=0), t.new_tensor([len(t)], dtype=dtype)])  # (K + 1,): sum, count
    if world_size() > 1:
        dist.all_reduce(stats)  # one call for both
    batch_center = stats[:-1] / stats[-1]
    return (center * momentum + batch_center * (1 - momentum)).to(center.dtype)
