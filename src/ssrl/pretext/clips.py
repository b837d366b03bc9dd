"""Shared pieces of P for temporal-order methods: frames sampled from clips, views per frame.

A clip batch is float (B, T, C, H, W) in [0, 1]. The temporal-order tasks must not be solvable
from low-level cues that differ between frames but say nothing about content (a frame's
exposure, its exact position in the frame); ``frame_views`` draws every frame's crop and colour
jitter independently, after the frames are put in the order the pseudolabel says, so the views
are the same random draw whatever that order is.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.frames import is_clip_backbone
from ssrl.backbones.maps import has_maps
from ssrl.components.image_grid import save_image_rows
from ssrl.data.source import to_unit
from ssrl.errors import SsrlError
from ssrl.views import ViewConfig, Views


def frame_jitter() -> ViewConfig:
    """The temporal-order methods' views, drawn per frame: mild crops (80-100 % of the area,
    near-square, so a frame moves by a pixel or two rather than the digit's own motion) and
    colour jitter, no flips (a flip of some frames would reverse their motion)."""
    return ViewConfig(crop_scale=(0.8, 1.0), crop_ratio=(0.9, 1.1), hflip=0.0, jitter=0.8, grayscale=0.0)


def frame_views(views: Views, x: torch.Tensor) -> torch.Tensor:
    """``views`` applied to every frame of x (B, T, C, H, W) independently -> (B, T, C, S, S)."""
    b, t = x.shape[:2]
    return views(x.flatten(0, 1)).unflatten(0, (b, t))


def check_frames(x: torch.Tensor, needed: int, method: str) -> None:
    """Refuse clips of fewer frames than ``method`` samples, saying how many it needs."""
    if x.ndim != 5:
        raise SsrlError(f"{method} takes videos (B, T, C, H, W), got a batch of shape {tuple(x.shape)}")
    if x.shape[1] < needed:
        raise SsrlError(f"{method} needs videos of at least {needed} frames (its clip length, gaps and "
                        f"stride); these have {x.shape[1]} (see its parameters: ssrl methods)")


DEFAULT_GRID = 4  # k_γ's default view of a frame: its last map pooled to 4 × 4 (BENCHMARKS.md, B4)


def head_grid(backbone: nn.Module, grid: int | None, method: str) -> int:
    """The grid k_γ reads each frame at (``ssrl.backbones.frames.frame_features``): ``grid`` for
    an image backbone that declares its feature maps, 0 (h_θ(frame) itself) for a clip backbone,
    whose feature is of the whole clip. ``grid`` None: ``DEFAULT_GRID`` where the image backbone
    declares its maps, else 0. A grid given for an image backbone without maps is refused."""
    if grid is not None and (isinstance(grid, bool) or not isinstance(grid, int) or grid < 0):
        raise SsrlError(f"{method}: head_grid must be a whole number ≥ 0, got {grid!r}")
    if is_clip_backbone(backbone):
        return 0
    if grid is None:
        return DEFAULT_GRID if has_maps(backbone) else 0
    if grid and not has_maps(backbone):
        raise SsrlError(f"{method}: head_grid={grid} reads each frame's last feature map, and "
                        f"{type(backbone).__name__} declares none (convnet-small and the ResNets do); "
                        "pass --param head_grid=0 to read its pooled feature")
    return grid


def random_starts(b: int, frames: int, span: int, device: torch.device) -> torch.Tensor:
    """(B,) first frames of windows of ``span`` frames, uniform over those that fit in ``frames``."""
    return torch.randint(0, frames - span + 1, (b,), device=device)


def motion_weighted_starts(x: torch.Tensor, span: int, eps: float = 1e-6) -> torch.Tensor:
    """(B,) first frames of windows of ``span`` frames of clips x (B, T, C, H, W), drawn per clip
    with probability proportional to the window's motion plus ``eps``: the mean absolute
    difference between consecutive frames, summed over the window's span - 1 steps. ``eps`` keeps
    a static clip's windows equally likely (uniform) rather than undefined."""
    motion = (x[:, 1:] - x[:, :-1]).abs().flatten(2).mean(2)            # (B, T-1): step t-1 -> t
    summed = F.pad(motion.cumsum(1), (1, 0))                            # (B, T): motion before frame t
    windows = summed[:, span - 1:] - summed[:, :x.shape[1] - span + 1]  # (B, T-span+1): frames s..s+span-1
    return torch.multinomial(windows.clamp(min=0) + eps, 1).squeeze(1)


def gather_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Frames ``index`` (B, K) of each clip of x (B, T, C, H, W) -> (B, K, C, H, W)."""
    return x[torch.arange(len(x), device=x.device)[:, None], index]


@torch.no_grad()
def save_tuples(method, run_dir: Path, sample: torch.Tensor, n: int = 8) -> Path:
    """``RUN/tuples.png``: what a temporal-order method shows k_γ and what it answers. Row i is
    the frames of one pretext question drawn by P from video i of ``sample`` (N, T, C, H, W)
    uint8, in the order shown; its caption (the JSON beside the picture) gives the true pseudolabel
    and the trained model's verdict in words (``method.describe``). BN in eval mode."""
    was_training = method.training
    method.eval()
    try:
        device = next(method.parameters()).device
        inputs, z = method.pseudolabels(to_unit(sample[:n].to(device)))   # (n, K, C, S, S), (n,)
        verdicts = method.logits(inputs).argmax(1)
    finally:
        method.train(was_training)
    rows = {f"{i + 1}: {method.describe(int(t))}; the model: {method.describe(int(v))}"
            + (" ✓" if t == v else " ✗"): frames for i, (frames, t, v) in enumerate(zip(inputs, z, verdicts))}
    return save_image_rows(Path(run_dir) / "tuples.png", rows, max_images=inputs.shape[1])
