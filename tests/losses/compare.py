"""Compare a fast loss with its slow reference: equal values and equal input gradients."""

import pytest
import torch


def assert_matches_reference(fast_fn, slow_fn, inputs, rtol: float = 1e-6) -> None:
    """``inputs``: float64 tensors; both functions are called on them and differentiated."""
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    fast = fast_fn(*inputs)
    fast_grads = torch.autograd.grad(fast, inputs)
    slow = slow_fn(*inputs)
    slow_grads = torch.autograd.grad(slow, inputs)
    assert fast.ndim == 0
    assert fast.item() == pytest.approx(slow.item(), rel=rtol, abs=1e-12)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=rtol, atol=1e-9)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
