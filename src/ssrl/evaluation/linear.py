"""Linear probe: a linear classifier g_φ trained on frozen, L2-normalized features.

The B1 protocol's probe (BENCHMARKS.md): one linear layer, Adam at lr 1e-2, 100 epochs,
mini-batches of 1024, on L2-normalized features; deterministic in ``seed``.
"""

import torch
import torch.nn.functional as F
from torch import nn


def linear_probe_top1(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor,
                      epochs: int = 100, lr: float = 1e-2, batch_size: int = 1024, seed: int = 0) -> float:
    """Top-1 accuracy (a fraction) on the test features of a linear probe fit on the train features."""
    g = torch.Generator().manual_seed(seed)
    train_f, test_f = F.normalize(train_f.float(), dim=1), F.normalize(test_f.float(), dim=1)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    probe = nn.Linear(train_f.shape[1], num_classes)  # g_φ
    with torch.no_grad():  # seeded init, independent of the global RNG
        bound = 1 / train_f.shape[1] ** 0.5
        probe.weight.uniform_(-bound, bound, generator=g)
        probe.bias.zero_()
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(train_f), generator=g)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(probe(train_f[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (probe(test_f).argmax(1) == test_y).float().mean().item()
