"""Building blocks for pretext heads k_γ (discarded after pretraining)."""

from torch import nn


def mlp(dims: list[int], batch_norm: bool = True, last_bn: bool = False) -> nn.Sequential:
    """Linear layers of widths ``dims[0] -> ... -> dims[-1]`` with BN + ReLU between them.

    The SimCLR projection head (Chen et al. 2020) is ``mlp([dim, hidden, out])``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b, bias=not (batch_norm and (not last or last_bn))))
        if not last:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU(inplace=True))
        elif last_bn:
            layers.append(nn.BatchNorm1d(b, affine=False))
    return nn.Sequential(*layers)
