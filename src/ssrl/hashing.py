"""Content hashes of tensors: the bytes of a tensor fed to a hashlib digest without a copy where
the tensor is already contiguous on the CPU (a data set held in memory, a backbone's weights)."""

import torch


def update_digest(digest, tensor: torch.Tensor) -> None:
    """Feed ``tensor``'s raw bytes (its values in memory order, whatever the dtype) to ``digest``."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(memoryview(flat.view(torch.uint8).numpy()))
