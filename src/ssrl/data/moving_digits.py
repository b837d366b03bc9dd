"""``moving-digits``: scikit-learn's real handwritten digits moving inside a frame, labeled by
construction.

Each of the 1,797 8×8 digits (values 0..16 scaled to 0..255) is upscaled to 16×16 (bilinear) and
moves along a straight line inside a 32×32 black frame for 16 frames, bouncing off the borders
(its position is a triangle wave of time on each axis). Every video has two labels:

- ``digit``: the digit shown (10 classes), the default label;
- ``direction``: the direction of its first step, k·45° counter-clockwise from "right" with
  the image's y axis pointing down, k in 0..7 (8 classes). Its speed starts at 2 or 3 pixels a
  frame per axis (so a diagonal step is √2 times longer), and it starts where the first step does
  not reach a border, so the first two frames always show the labelled direction; later bounces
  turn it.

The digits slow down: friction takes one pixel a frame off the speed every ``SLOWDOWN`` frames,
until they stop. Elastic bounces at a constant speed would look the same played backwards; the
slowing gives every video an arrow of time, which ``arrow_of_time`` and ``clip_order`` need to have
anything to learn (BENCHMARKS.md, "Video, first slice").

Directions are balanced (the same count of each, ±1) and assigned at random; everything follows
from ``SEED``, so the set is the same on every machine. Like ``digits`` it has no test split of
its own: evaluation holds out a stratified fraction. Videos are uint8 (N, 16, 1, 32, 32), 29 MB.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NAME = "moving-digits"
LABELS = ("digit", "direction")
FRAMES, FRAME, DIGIT = 16, 32, 16   # frames per video, frame side, digit side (pixels)
SPEEDS = (2, 3)                     # pixels a frame along each moving axis, at the start
SLOWDOWN = 5                        # frames between losing one pixel a frame of speed (friction)
SEED = 0
# (dx, dy) of direction k: k·45° counter-clockwise from right, y pointing down the image
STEPS = np.array([(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)])


def _bounced(p: np.ndarray, high: int) -> np.ndarray:
    """Positions moving freely (any integers) reflected into 0..high by the borders."""
    return high - np.abs(np.mod(p, 2 * high) - high)


def generate(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(videos (N, T, 1, 32, 32) uint8, digit labels (N,), direction labels (N,)), N = 1,797."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    n = len(digits.target)
    rng = np.random.default_rng(seed)
    small = torch.from_numpy(digits.images * (255 / 16)).float().unsqueeze(1)  # (N, 1, 8, 8)
    sprites = F.interpolate(small, size=DIGIT, mode="bilinear", align_corners=False)
    sprites = sprites.round().clamp(0, 255).to(torch.uint8).squeeze(1).numpy()  # (N, 16, 16)

    direction = rng.permutation(np.arange(n) % len(STEPS))
    speed = rng.choice(SPEEDS, size=n)
    velocity = STEPS[direction] * speed[:, None]                        # (N, 2): the first step (vx, vy)
    high = FRAME - DIGIT                                                # largest top-left coordinate
    low_start = np.maximum(0, -velocity)                                # the first step stays inside
    high_start = np.minimum(high, high - velocity)
    start = low_start + np.floor(rng.random((n, 2)) * (high_start - low_start + 1)).astype(int)
    t = np.arange(FRAMES)
    speeds = np.maximum(0, speed[:, None] - t[None, :-1] // SLOWDOWN)   # (N, T-1): of the step t -> t+1
    travelled = np.concatenate([np.zeros((n, 1), dtype=int), np.cumsum(speeds, axis=1)], axis=1)  # (N, T)
    x = _bounced(start[:, None, 0] + STEPS[direction, 0][:, None] * travelled, high)   # (N, T) left edges
    y = _bounced(start[:, None, 1] + STEPS[direction, 1][:, None] * travelled, high)   # (N, T) top edges

    videos = np.zeros((n, FRAMES, FRAME, FRAME), dtype=np.uint8)
    offset = np.arange(DIGIT)
    rows = y[:, :, None, None] + offset[:, None]                        # (N, T, 16, 1)
    cols = x[:, :, None, None] + offset[None, :]                        # (N, T, 1, 16)
    videos[np.arange(n)[:, None, None, None], t[None, :, None, None], rows, cols] = sprites[:, None]
    return videos[:, :, None], digits.target.astype(np.int64), direction.astype(np.int64)
