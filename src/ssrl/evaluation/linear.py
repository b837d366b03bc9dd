"""Linear probe: a linear classifier g_φ trained on frozen, standardised features.

One linear layer, Adam at lr 1e-2, 100 epochs, mini-batches of 1024; deterministic in
``seed``. Features are standardised per dimension with the mean and std of the training split
only (test rows use the same statistics), for the pretrained and the random-init backbone
alike: the same as MAE's linear-probing protocol (He et al. 2021, arXiv:2111.06377, a BatchNorm
without affine parameters before the linear head), computed once instead of learned.

Until issue 23 the probe L2-normalised the features instead. That is unfair to anisotropic
features (all pointing one way): normalising keeps the shared direction and shrinks the
differences between rows, which flattered convnets after pretraining against their random-init
floor on images and hid the gain of text encoders whose pooled tokens all point one way.
BENCHMARKS.md labels every figure with the probe that produced it.
"""

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-6  # a dimension constant over the training rows stays constant (0), not inf


def standardise(train_f: torch.Tensor, test_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets with the training rows' per-dimension mean removed and std divided out."""
    train_f, test_f = train_f.float(), test_f.float()
    mean = train_f.mean(0)
    std = train_f.std(0, unbiased=False) if len(train_f) > 1 else torch.ones_like(mean)
    std = std.clamp_min(EPS)
    return (train_f - mean) / std, (test_f - mean) / std


def linear_probe_predict(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, num_classes: int,
                         epochs: int = 100, lr: float = 1e-2, batch_size: int = 1024, seed: int = 0) -> torch.Tensor:
    """Predicted class (Q,) of each test feature under a linear probe fit on the train features."""
    g = torch.Generator().manual_seed(seed)
    train_f, test_f = standardise(train_f, test_f)
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
        return probe(test_f).argmax(1)


def linear_probe_top1(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor,
                      epochs: int = 100, lr: float = 1e-2, batch_size: int = 1024, seed: int = 0) -> float:
    """Top-1 accuracy (a fraction) on the test features of a linear probe fit on the train features."""
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    pred = linear_probe_predict(train_f, train_y, test_f, num_classes, epochs, lr, batch_size, seed)
    return (pred == test_y).float().mean().item()
