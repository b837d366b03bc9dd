"""Redundancy-reduction losses: Barlow Twins and VICReg.

Both are functions of batch statistics (per-dimension mean, variance, cross-correlation or
covariance), so under DDP they must be computed over the GLOBAL batch, not per process. Each
loss first gathers both views with ``gather_with_grad`` and then every process computes the
same global loss L. Why the gradient is then exactly the one-process gradient: on process r,
backward gives ∂L/∂Z for the whole gathered batch Z; the gather's backward sums that over the
W processes (all hold the same L, so the sum is W·∂L/∂Z) and keeps r's slice, W·∂L/∂Z_r; DDP
then averages parameter gradients over processes, (1/W)·Σ_r W·∂L/∂Z_r·∂Z_r/∂θ = ∂L/∂θ.
In one process the gather is the identity.
"""

import torch
import torch.nn.functional as F

from ssrl.distributed import gather_with_grad
from ssrl.precision import in_float32


def _check_and_gather(name: str, z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate (N, D) pairs and gather the global batch."""
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"{name}: z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)} must both be (N, D)")
    if z1.shape[1] < 1:
        raise ValueError(f"{name}: embeddings need at least one dimension, got {tuple(z1.shape)}")
    z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (W·N, D) each
    if len(z1) < 2:
        raise ValueError(f"{name}: batch statistics need at least 2 samples in the (global) batch, got {len(z1)}")
    return z1, z2


@in_float32  # variances and D×D correlations of ~N terms lose too much in half precision
def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambda_offdiag: float = 5e-3, *, eps: float = 1e-5) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021, arXiv:2103.03230, eq. 1–2): with each dimension
    standardized over the batch, C = z1ᵀz2 / N (D, D) and
    L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij².

    Args:
        z1, z2: (N, D) projections of the two views of the same N images on this process;
            under DDP the global batch is gathered first (see the module docstring).
        lambda_offdiag: λ, the redundancy-reduction weight; the paper's 5e-3 (for D = 8192).
        eps: added to the variance before the square root, as the official code's
            ``BatchNorm1d(affine=False)`` does; keeps a constant dimension finite.
    Returns:
        the scalar loss.

    The paper's pseudocode divides by ``std(0)`` (unbiased); we use the biased variance of
    the official BatchNorm, so that C is a true correlation matrix (C_ii = 1 for z1 = z2).
    """
    z1, z2 = _check_and_gather("barlow_twins", z1, z2)
    n = len(z1)
    a = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + eps)  # (N, D)
    b = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + eps)  # (N, D)
    c = a.T @ b / n                                                       # (D, D)
    on_diag = (1 - torch.diagonal(c)).pow(2).sum()
    off_diag = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on_diag + lambda_offdiag * off_diag


def _variance(z: torch.Tensor, gamma: float, eps: float) -> torch.Tensor:
    """v(Z) = 1/d Σ_j max(0, γ − sqrt(Var(z^j) + ε)), Var unbiased (VICReg eq. 1–2)."""
    return F.relu(gamma - torch.sqrt(z.var(0) + eps)).mean()


def _covariance(z: torch.Tensor) -> torch.Tensor:
    """c(Z) = 1/d Σ_{i≠j} C(Z)_ij², C(Z) = (Z − Z̄)ᵀ(Z − Z̄) / (N − 1) (VICReg eq. 3–4)."""
    n, d = z.shape
    centred = z - z.mean(0)
    cov = centred.T @ centred / (n - 1)  # (D, D)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / d


@in_float32
def vicreg_terms(
    z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three unweighted VICReg terms (Bardes, Ponce & LeCun 2022, arXiv:2105.04906):
    invariance s(Z, Z') = MSE (mean over N and D), variance v(Z) + v(Z'), covariance c(Z) + c(Z').

    Args:
        z1, z2: (N, D) expander outputs of the two views on this process (global batch
            gathered under DDP, see the module docstring).
        gamma: γ, the target standard deviation (paper: 1).
        eps: ε inside the square root (paper: 1e-4).
    """
    z1, z2 = _check_and_gather("vicreg", z1, z2)
    invariance = F.mse_loss(z1, z2)
    variance = _variance(z1, gamma, eps) + _variance(z2, gamma, eps)
    covariance = _covariance(z1) + _covariance(z2)
    return invariance, variance, covariance


def vicreg(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> torch.Tensor:
    """VICReg, eq. 6: ℓ = λ s(Z, Z') + μ [v(Z) + v(Z')] + ν [c(Z) + c(Z')], the paper's
    λ = μ = 25, ν = 1. (The official code averages the two variance terms, i.e. halves μ;
    we follow the equation.) Shapes and DDP as in ``vicreg_terms``."""
    invariance, variance, covariance = vicreg_terms(z1, z2, gamma, eps)
    return sim_weight * invariance + var_weight * variance + cov_weight * covariance
