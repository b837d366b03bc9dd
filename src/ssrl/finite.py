"""Which weights hold inf or NaN: the check by which ``ssrl.runs`` refuses to save or load them
(the divergence guard, ``ssrl.divergence``, stops training before they are made)."""

import torch


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors of ``state`` holding inf or NaN."""
    return [name for name, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
