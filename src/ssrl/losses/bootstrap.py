"""Losses of the bootstrapping methods, which have no negatives: one view's prediction is pulled
towards the other view's target embedding (their collapse monitor is ``ssrl.collapse``)."""

import torch
import torch.nn.functional as F

from ssrl.precision import in_float32


@in_float32  # bf16 resolves 1 − cos only to about 0.004: the loss near its minimum would be noise
def _cross_view_cosine(p1, p2, z1, z2, stop_gradient: bool, name: str) -> torch.Tensor:
    """(mean cos(p1, z2) + mean cos(p2, z1)) / 2, the targets z detached when ``stop_gradient``."""
    if not (p1.shape == p2.shape == z1.shape == z2.shape) or p1.ndim != 2:
        raise ValueError(f"{name}: p1, p2, z1, z2 must all be (B, D), got "
                         f"{[tuple(t.shape) for t in (p1, p2, z1, z2)]}")
    if stop_gradient:
        z1, z2 = z1.detach(), z2.detach()
    return (F.cosine_similarity(p1, z2, dim=1).mean() + F.cosine_similarity(p2, z1, dim=1).mean()) / 2


def simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                 stop_gradient: bool = True) -> torch.Tensor:
    """SimSiam (Chen & He 2021, arXiv:2011.10566, eq. 2-4): L = D(p1, sg(z2))/2 + D(p2, sg(z1))/2
    with D(p, z) = -cos(p, z) averaged over the batch and sg the stop-gradient.

    Args:
        p1, p2: (B, D) predictor outputs of view 1 and view 2.
        z1, z2: (B, D) projector outputs of view 1 and view 2; no gradient flows into them here.
        stop_gradient: False removes sg, the paper's ablation that collapses (§4.1).
    """
    return -_cross_view_cosine(p1, p2, z1, z2, stop_gradient, "simsiam_loss")


def byol_loss(p1: torch.Tensor, p2: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """BYOL (Grill et al. 2020, arXiv:2006.07733, eq. 2): ||p̄1 − t̄2||² + ||p̄2 − t̄1||² averaged
    over the batch, with x̄ = x / ||x||, so each term is 2 − 2·cos. The target projections t come
    from the EMA network and take no gradient.

    Args:
        p1, p2: (B, D) online predictions of view 1 and view 2.
        t1, t2: (B, D) target projections of view 1 and view 2.
    """
    return 4 - 4 * _cross_view_cosine(p1, p2, t1, t2, True, "byol_loss")
