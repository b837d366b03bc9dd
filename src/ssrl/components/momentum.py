"""Momentum (EMA) target networks, shared by BYOL, MoCo and DINO.

The target ξ follows the online weights θ as ξ ← m·ξ + (1 − m)·θ after every optimizer step and
gets no gradient. BYOL (Grill et al. 2020, arXiv:2006.07733, §3.2) raises m from its base value
to 1 on a cosine schedule; MoCo v3 and DINO do the same.
"""

import copy
import math

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` that takes no gradient: the initial target ξ = θ."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """ξ ← m·ξ + (1 − m)·θ for every parameter; buffers (BN running statistics) are copied.

    ``target`` must be a ``frozen_copy`` of ``online`` (same parameters in the same order)."""
    t_params, o_params = list(target.parameters()), list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError(f"ema_update: the target has {len(t_params)} parameters, the online network {len(o_params)}")
    torch._foreach_lerp_(t_params, o_params, 1.0 - momentum)
    for tb, ob in zip(target.buffers(), online.buffers()):
        tb.copy_(ob)


def cosine_momentum(progress: float, base: float) -> float:
    """BYOL's schedule: m = 1 − (1 − base)·(cos(π·p) + 1) / 2, from base to 1 as p, the fraction of
    training done (step / total steps in the paper), goes from 0 to 1."""
    progress = min(max(progress, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
