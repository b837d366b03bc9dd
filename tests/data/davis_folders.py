"""Tiny videos with masks the propagation tests build themselves: a square translated across
the frame, with its exact masks, and a DAVIS-layout folder written from such videos."""

from pathlib import Path

import numpy as np
from PIL import Image

BACKGROUND, SQUARE = (40, 90, 200), (220, 60, 30)  # RGB: blue ground, red square


def translated_square(frames: int = 6, side: int = 32, size: int = 8, start=(4, 4), step=(2, 2),
                      object_id: int = 1) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(frames (T, side, side, 3) uint8, masks (T, side, side) uint8 ids, the square's top-left
    corner per frame): a ``size``-px square moving ``step`` px a frame from ``start``."""
    video = np.empty((frames, side, side, 3), np.uint8)
    video[:] = BACKGROUND
    masks = np.zeros((frames, side, side), np.uint8)
    corners = []
    for t in range(frames):
        y, x = start[0] + t * step[0], start[1] + t * step[1]
        video[t, y:y + size, x:x + size] = SQUARE
        masks[t, y:y + size, x:x + size] = object_id
        corners.append((y, x))
    return video, masks, corners


def palette_png(mask: np.ndarray, path: Path) -> None:
    """An index PNG (mode P) of object ids, coloured as DAVIS's masks are (colours do not matter)."""
    img = Image.fromarray(mask, mode="P")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [255, 255, 255] * 252)
    img.save(path)


def write_davis(root: Path, videos: dict, level: str | None = "480p", unannotated: dict | None = None) -> Path:
    """``root`` laid out as DAVIS: JPEGImages/[level/]NAME/00000.jpg and Annotations/[level/]NAME/
    00000.png for each NAME: (frames (T, H, W, 3), masks (T, H, W)); frames listed in
    ``unannotated`` (name: frame numbers) get no mask. Frames are PNGs (lossless), as DAVIS's
    own frames are JPEGs; the reader takes both."""
    for name, (frames, masks) in videos.items():
        images = root / "JPEGImages" / (level or "") / name
        annotations = root / "Annotations" / (level or "") / name
        images.mkdir(parents=True)
        annotations.mkdir(parents=True)
        for t, (frame, mask) in enumerate(zip(frames, masks)):
            Image.fromarray(frame).save(images / f"{t:05d}.png")
            if t not in (unannotated or {}).get(name, ()):
                palette_png(mask, annotations / f"{t:05d}.png")
    return root
