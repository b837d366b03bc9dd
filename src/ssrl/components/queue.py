"""A first-in-first-out store of past embeddings: MoCo's negatives, NNCLR's support set.

Kept in buffers so checkpoints hold it and a resumed run sees the same store. Under DDP every
process pushes the embeddings of the whole global batch (gathered), so all processes hold the
same store, equal to the one a single process would hold on the global batch.
"""

import torch
from torch import nn

from ssrl.distributed import gather_with_grad


class EmbeddingQueue(nn.Module):
    """The last ``size`` embeddings of width ``dim`` pushed, oldest overwritten first."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"EmbeddingQueue: size must be >= 1, got {size}")
        self.register_buffer("items", torch.zeros(size, dim))
        self.register_buffer("next", torch.zeros((), dtype=torch.long))  # the slot written next
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # slots filled so far

    @torch.no_grad()
    def push(self, z: torch.Tensor) -> None:
        """Append z (B, dim) of this process and, under DDP, of every other process (rank order)."""
        z = gather_with_grad(z.detach()).to(self.items.dtype)
        size = len(self.items)
        if len(z) > size:
            z = z[-size:]
        idx = (self.next + torch.arange(len(z), device=z.device)) % size
        self.items[idx] = z
        self.next.copy_((self.next + len(z)) % size)
        self.count.clamp_(max=size - len(z)).add_(len(z))

    def get(self) -> torch.Tensor:
        """The stored embeddings (count, dim), no gradient."""
        return self.items[: int(self.count)]
