"""The one piece of distributed code ssrl owns: all-gather that keeps the gradient.

Contrastive losses need every process's embeddings as negatives. ``torch.distributed.all_gather``
returns tensors cut from the graph, so we wrap it in an autograd function whose backward sums
the incoming gradients over processes (every process computes a loss that depends on every
process's embeddings) and returns this process's slice. DDP then averages parameter gradients
over the W processes, which gives exactly the gradient of the mean of the per-process losses:
the same gradient as one process on the global batch. Returning only the local slice of the
gradient without the sum is the world-size scaling bug (gradients W times too small).
Without an initialized process group every function here is the identity.
"""

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad.chunk(dist.get_world_size())[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (B, ...) from every process along dim 0, in rank order: (W·B, ...).

    All processes must pass the same B. Gradients flow back to each process's own ``x``."""
    if world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)
