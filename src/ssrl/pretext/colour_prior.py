"""The colour prior of the colour tasks: ab bins, their empirical distribution over D_s, and the
class-rebalancing weights. Zhang, Isola & Efros, 2016, "Colorful Image Colorization",
arXiv:1603.08511, §2.1–2.2 (eq. 2–5).

ab is cut into square bins of side ``grid`` and only the bins the sRGB gamut reaches are kept
(``ab_bins``; the paper's own gamut estimate keeps Q = 313 at grid 10). ``ColourPrior`` holds the
bins and, counted once over D_s at the first epoch start and checkpointed with its method, the
empirical distribution p of the ab targets over them and the rebalancing weights of eq. 4,

    w ∝ ((1 − λ) p̃ + λ / Q)^−1,  scaled so that E_p̃[w] = Σ_q p̃_q w_q = 1,

with p̃ = p smoothed by a Gaussian of σ in ab. Colorization and split-brain's ab direction each
hold one. It lives beside the Lab conversion and the pixel tasks' block means that it uses
(``ssrl.components`` never imports ``ssrl.pretext``, whose package imports every method).
"""

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.data.source import to_unit
from ssrl.errors import SsrlError
from ssrl.pretext.lab import rgb_to_lab, split_lab
from ssrl.pretext.pixel_head import block_means

LOSSES = ("classification", "regression")  # over the bins (the paper) | squared error on ab (its baseline)
PRIOR_IMAGES = 20_000  # images of D_s, evenly spread, counted for p


def require_loss(loss: str, method: str) -> None:
    if loss not in LOSSES:
        raise SsrlError(f"{method} loss must be one of {', '.join(LOSSES)}, got {loss!r}")


@functools.lru_cache(maxsize=8)
def _gamut_cells(grid: float) -> torch.Tensor:
    # The ab image of the RGB cube is the image of its surface (each ab's set of RGB colours is a
    # curve, which ends on the surface), so the six faces on a 128-level grid suffice.
    v = torch.linspace(0, 1, 128, dtype=torch.float64)
    s, t = (u.flatten() for u in torch.meshgrid(v, v, indexing="ij"))
    zero, one = torch.zeros_like(s), torch.ones_like(s)
    faces = [(c, s, t) for c in (zero, one)] + [(s, c, t) for c in (zero, one)] + [(s, t, c) for c in (zero, one)]
    rgb = torch.cat([torch.stack(face) for face in faces], dim=1)[None, :, :, None]  # (1, 3, n, 1)
    ab = rgb_to_lab(rgb)[0, 1:, :, 0].T  # (n, 2)
    return torch.unique(torch.round(ab / grid), dim=0)


def ab_bins(grid: float = 10.0) -> torch.Tensor:
    """(Q, 2) centres, multiples of ``grid``, of the ab bins that sRGB colours fall in, sorted by
    a then b: the classes of colorization (Q = 262 for grid 10)."""
    return (_gamut_cells(float(grid)) * grid).float()


def quantize_ab(ab: torch.Tensor, bins: torch.Tensor, grid: float) -> torch.Tensor:
    """(B, 2, h, w) ab in Lab units → (B, h, w) index of the bin each pixel falls in.

    A pixel's grid cell is ab / grid rounded; a cell outside ``bins`` (an out-of-gamut colour)
    goes to the bin nearest the cell's centre, through a lookup table over all cells."""
    cells = torch.round(ab / grid).long()                        # (B, 2, h, w)
    k = int((bins.abs().max() / grid).round().item()) + 1         # cells -k..k cover the bins and a margin
    side = 2 * k + 1
    grid_ab = torch.stack(torch.meshgrid(torch.arange(-k, k + 1), torch.arange(-k, k + 1), indexing="ij"), -1)
    centres = grid_ab.reshape(-1, 2).to(bins) * grid               # (side², 2)
    table = torch.cdist(centres, bins).argmin(dim=1)                # nearest bin of every cell
    cells = cells.clamp(-k, k) + k
    return table.to(ab.device)[cells[:, 0] * side + cells[:, 1]]


def smooth_distribution(p: torch.Tensor, centres: torch.Tensor, sigma: float) -> torch.Tensor:
    """p̃: a distribution over bins (Q,) blurred by a Gaussian of ``sigma`` between bin centres
    (Q, D), renormalised; ``sigma`` = 0 leaves it as it is."""
    if sigma <= 0:
        return p / p.sum()
    kernel = torch.exp(-torch.cdist(centres, centres) ** 2 / (2 * sigma**2))
    smoothed = kernel @ p
    return smoothed / smoothed.sum()


def rebalancing_weights(p: torch.Tensor, centres: torch.Tensor, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Class weights (Q,) of eq. 4: w ∝ ((1 − λ) p̃ + λ / Q)^−1 with p̃ the smoothed empirical
    distribution, scaled so that Σ_q p̃_q w_q = 1."""
    smoothed = smooth_distribution(p.double(), centres.double(), sigma)
    w = 1 / ((1 - lam) * smoothed + lam / len(p))
    return (w / (smoothed * w).sum()).to(p.dtype)


def weighted_cross_entropy(logits: torch.Tensor, z: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over pixels of w(z) · CE: logits (B, Q, h, w), z (B, h, w), weights (Q,) or None.

    The mean over pixels, not F.cross_entropy's division by the summed weights, as the paper
    (eq. 2) weights each pixel's term and sums: with E[w] = 1 its scale is the plain CE's."""
    ce = F.cross_entropy(logits, z, reduction="none")
    return ce.mean() if weights is None else (weights[z] * ce).mean()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logits (B, Q, h, w) over bins with centres (Q, D) → (B, D, h, w): the mean of the
    distribution re-sharpened to temperature T, softmax(log p / T) (eq. 5). T = 1 is the plain
    mean (desaturated), T → 0 the mode (vivid but patchy)."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qd->bdhw", p, centres.to(p))


@torch.no_grad()
def ab_histogram(images: torch.Tensor, bins: torch.Tensor, grid: float, stride: int,
                 max_images: int = PRIOR_IMAGES, chunk: int = 512) -> torch.Tensor:
    """Counts (Q,) of the bins of the ab targets of uint8 RGB images (N, 3, H, W), computed as P
    computes them (ab averaged over stride × stride blocks), on at most ``max_images`` images
    evenly spread over the set."""
    images = images[::max(1, -(-len(images) // max_images))]
    counts = torch.zeros(len(bins), dtype=torch.float64)
    for start in range(0, len(images), chunk):
        ab = block_means(split_lab(to_unit(images[start:start + chunk]))[1], stride)
        counts += torch.bincount(quantize_ab(ab, bins.cpu(), grid).flatten(), minlength=len(bins)).double()
    return counts


class ColourPrior(nn.Module):
    """The ab bins (Q, 2), p (Q,) and w (Q,) as buffers, so they move and checkpoint with their
    method; the targets are ab averaged over ``stride`` × ``stride`` blocks, as P makes them."""

    def __init__(self, grid: float = 10.0, stride: int = 1, lam: float = 0.5, sigma: float = 5.0):
        super().__init__()
        self.grid, self.stride, self.lam, self.sigma = grid, stride, lam, sigma
        self.register_buffer("bins", ab_bins(grid))               # (Q, 2) bin centres, Lab units
        self.register_buffer("p", torch.zeros(len(self.bins)))   # empirical distribution over D_s; 0: not counted
        self.register_buffer("w", torch.ones(len(self.bins)))    # rebalancing weights; 1: none

    @torch.no_grad()
    def count(self, images: torch.Tensor, rebalance: bool = True) -> dict[str, float] | None:
        """p over D_s (uint8 RGB (N, 3, H, W)) and, with ``rebalance``, w from it; the bins used,
        to log. Once counted (or restored from a checkpoint) it keeps them and returns None."""
        if self.p.sum() > 0:
            return None
        counts = ab_histogram(images, self.bins, self.grid, self.stride)
        p = counts / counts.sum()
        self.p.copy_(p)
        if rebalance:
            self.w.copy_(rebalancing_weights(p, self.bins.cpu().double(), self.lam, self.sigma))
        return {"colour_bins_used": float((counts > 0).sum())}

    def quantize(self, ab: torch.Tensor) -> torch.Tensor:
        """(B, 2, h, w) ab → (B, h, w) bin indices: the classification targets z."""
        return quantize_ab(ab, self.bins, self.grid)

    def decode(self, logits: torch.Tensor, temperature: float) -> torch.Tensor:
        """Logits (B, Q, h, w) over the bins → ab (B, 2, h, w): the annealed mean at ``temperature``."""
        return annealed_mean(logits, self.bins, temperature)


__all__ = ["ColourPrior", "LOSSES", "PRIOR_IMAGES", "ab_bins", "ab_histogram", "annealed_mean", "quantize_ab",
           "rebalancing_weights", "require_loss", "smooth_distribution", "weighted_cross_entropy"]
