"""Tiny labeled data and backbones the evaluation tests build themselves."""

import torch
from torch import nn


def quadrant_images(n_per_class: int, seed: int, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (4n, 1, size, size) noise images where class c has its c-th quadrant bright, and labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(4).repeat(n_per_class)
    x = torch.randint(0, 80, (len(y), 1, size, size), generator=g)
    h = size // 2
    for c, (r, col) in enumerate([(0, 0), (0, h), (h, 0), (h, h)]):
        x[y == c, :, r:r + h, col:col + h] += 150
    return x.to(torch.uint8), y


class TinyConvNet(nn.Module):
    """A small convolutional h_θ with batch norm: (B, 1, H, W) -> (B, 8)."""

    dim = 8

    def __init__(self, size: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(4 * size * size, self.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TinyTokenNet(nn.Module):
    """A token-id h_θ: (B, T) LongTensor -> mean of embeddings (B, 8)."""

    dim = 8

    def __init__(self, vocab: int = 10):
        super().__init__()
        self.embed = nn.Embedding(vocab, self.dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed(ids).mean(1)
