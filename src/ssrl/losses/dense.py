"""Per-pixel losses of the geometry heads (``synthetic_multitask``): depth, surface normals and
instance contours, each over (B, ·, H, W) maps, computed in float32 whatever autocast gave.

* ``scale_invariant_log_loss``: Eigen, Puhrsch & Fergus 2014 (arXiv:1406.2283), eq. 4. With
  d_i = ŷ_i − log y_i over an image's n valid pixels, (1/n) Σ d_i² − (λ/n²) (Σ d_i)²: λ = 0 is
  the squared error in log depth, λ = 1 ignores a global scale entirely; their training value 0.5
  is the default.
* ``log_l1_loss``: the mean absolute error of the predicted log depth.
* ``cosine_normal_loss``: 1 − cos(n̂, n), the predicted normal unnormalised (only its direction
  counts), averaged over valid pixels.
* ``balanced_contour_loss``: HED's class-balanced sigmoid cross-entropy (Xie & Tu 2015,
  arXiv:1504.06375, eq. 2): per image, with β = |Y₋| / |Y| the fraction of non-contour pixels,
  −β Σ_{Y₊} log σ(a) − (1 − β) Σ_{Y₋} log(1 − σ(a)), here divided by |Y| (a mean over pixels, so
  that its size does not grow with the image).

Images are weighted equally: each loss is the mean over images of a per-image figure.
"""

import torch
import torch.nn.functional as F


def _per_image_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B,) means of x (B, C, H, W) over each image's valid pixels (B, 1, H, W), channels summed."""
    v = valid.to(x.dtype)
    return (x * v).sum((1, 2, 3)) / v.sum((1, 2, 3)).clamp_min(1)


def scale_invariant_log_loss(pred_log: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor,
                             lam: float = 0.5) -> torch.Tensor:
    """pred_log (B, 1, H, W) predicted log depth, depth (B, 1, H, W) > 0 where ``valid``."""
    d = pred_log.float() - torch.where(valid, depth.float(), 1.0).log()
    mean = _per_image_mean(d, valid)
    return (_per_image_mean(d * d, valid) - lam * mean * mean).mean()


def log_l1_loss(pred_log: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    d = pred_log.float() - torch.where(valid, depth.float(), 1.0).log()
    return _per_image_mean(d.abs(), valid).mean()


def cosine_normal_loss(pred: torch.Tensor, normals: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """pred (B, 3, H, W) any length, normals (B, 3, H, W) unit vectors."""
    cos = F.cosine_similarity(pred.float(), normals.float(), dim=1, eps=1e-6)[:, None]
    return _per_image_mean(1 - cos, valid).mean()


def balanced_contour_loss(logits: torch.Tensor, contours: torch.Tensor) -> torch.Tensor:
    """logits (B, 1, H, W), contours (B, 1, H, W) in {0, 1}."""
    y = contours.float()
    beta = 1 - y.mean((1, 2, 3), keepdim=True)  # |Y₋| / |Y|
    weight = beta * y + (1 - beta) * (1 - y)
    bce = F.binary_cross_entropy_with_logits(logits.float(), y, weight=weight, reduction="none")
    return bce.mean((1, 2, 3)).mean()


DEPTH_LOSSES = {"scale_invariant": scale_invariant_log_loss, "l1": log_l1_loss}

__all__ = ["DEPTH_LOSSES", "balanced_contour_loss", "cosine_normal_loss", "log_l1_loss", "scale_invariant_log_loss"]
