"""``moving-textures``: textured objects cut from real photographs moving over a panning real
photograph, with their exact instance masks by construction (B5 of issue 26).

No labeled real tracking set installs offline, so this one is synthetic, and says so. Every picture
in it is real: scikit-learn's two sample photographs (``load_sample_images``: china.jpg and
flower.jpg, 427×640), reduced once to 142×213 by 3×3 box means. Each video has 24 colour frames
of 64×64 px:

- the background: a square crop (64–96 reduced px a side) of one photograph, panning slowly
  (0.2–0.6 frame px a frame in a random direction), resampled to 64×64 (bilinear);
- 1 object (40 %) or 2 (60 %): a square crop of a photograph (the other one, or another region
  of the same one, half the time each, so colour alone cannot tell object from ground) cut out
  by a smooth irregular blob (the union of 5 random Gaussian bumps, thresholded: a low-passed
  random field), its box 28–44 px a side, its side changing linearly by up to ±20 % over the
  video, its centre moving along a curved path (a turning heading) and bouncing off the borders.
  Object 2 is drawn after object 1, so it is in front where they cross.

Masks hold 0 for the background and k for object k exactly where object k's pixels were pasted
and not covered later: a pixel is either the photograph's or the object's, never blended. In the
first frame every object shows at least half of its area (it is what label propagation starts
from); later frames may hide an object partly or wholly (crossings, borders).

Every video follows from ``(seed, index)`` alone (numpy's PCG64), so ``generate(n)`` is a prefix
of ``generate(m > n)`` and the held-out videos (``HELDOUT_SEED``) are none of the training ones.
The rest is float64 arithmetic on the decoded photographs (Pillow's libjpeg), so the bytes are the
same on every machine; only a pixel whose blob value or colour fell on a rounding boundary to the
last bit of ``exp`` could differ where numpy's ``exp`` does.
The same objects can be pasted over frames of real videos instead of the photograph
(``clip_grounds``; B5's ``clips`` set, over the videos public packages ship).
``--data moving-textures`` is ``VIDEOS`` unlabeled training videos (uint8 (N, 24, 3, 64, 64),
88 MB); ``write_davis`` writes held-out videos with their masks as a DAVIS-layout folder for
``ssrl evaluate RUN --data FOLDER --protocol propagate`` (``ssrl.data.davis``)::

    python -m ssrl.data.moving_textures FOLDER [--videos 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ssrl.errors import DataError

NAME = "moving-textures"
PHOTOGRAPHS = ("china.jpg", "flower.jpg")  # scikit-learn's load_sample_images, in its order
FRAMES, FRAME = 24, 64          # frames per video, frame side (px)
VIDEOS = 300                    # videos of --data moving-textures
SEED, HELDOUT_SEED = 0, 1       # the training videos' seed; the held-out (DAVIS) videos'
REDUCE = 3                      # photographs reduced by 3×3 box means: 427×640 -> 142×213
GROUND_SIDE = (64, 96)          # reduced px a side of the background's crop: 1–1.5 per frame px
PAN = (0.2, 0.6)                # frame px a frame that the background slides
BOX = (28, 44)                  # frame px a side of an object's box in the first frame
SCALE = 0.2                     # the box's side changes linearly by up to ±20 % over the video
TEXTURE_SCALE = (1.0, 1.5)      # reduced px of texture per frame px: as the background's
TEXTURED = 25.0                 # an object's window has at least this colour std (of 255): no flat sky
SPEED = (0.8, 2.5)              # frame px a frame that an object's centre moves
TURN = 0.08                     # rad a frame at most that its heading turns (curved paths)
TWO_OBJECTS = 0.6               # the share of videos with two objects (the rest have one)
SAME_PHOTO = 0.5                # the share of objects cut from the background's own photograph
BUMPS, BUMP_SIGMA = 5, (0.07, 0.12)  # the blob: Gaussian bumps, σ in box sides
BUMP_SPAN = (0.28, 0.72)        # where the bumps' centres lie in the box: the blob never touches its edges
BLOB_LEVEL = 0.5                # the blob is where the bumps' sum exceeds this
MARGIN = 0.3                    # an object's centre stays this many box sides inside the frame
VISIBLE = 0.5                   # first frame: each object shows at least this share of its area
PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [255, 255, 255] * 252  # DAVIS's first colours


@dataclass(frozen=True)
class Layer:
    """A square window of a photograph pasted into a box of the frames: the background (the
    whole frame, no blob) or an object (its blob cut out)."""

    photo: int              # 0: china.jpg, 1: flower.jpg
    origin: np.ndarray      # (T, 2) the window's top-left (y, x) in reduced-photograph px
    texture: float          # the window's side in reduced-photograph px
    centre: np.ndarray      # (T, 2) the box's centre (y, x) in frame px
    side: np.ndarray        # (T,) the box's side in frame px
    bumps: np.ndarray | None = None  # (BUMPS, 3) the blob's bumps (cy, cx, σ) in box sides; None: all of the box


@lru_cache(maxsize=1)
def photographs() -> tuple[np.ndarray, ...]:
    """scikit-learn's two photographs, each (142, 213, 3) float64 in 0..255 (3×3 box means)."""
    reduced = []
    for name in PHOTOGRAPHS:
        with Image.open(_sklearn_images() / name) as img:
            image = np.asarray(img.convert("RGB"))                       # (427, 640, 3) uint8
        h, w = image.shape[0] // REDUCE * REDUCE, image.shape[1] // REDUCE * REDUCE
        blocks = image[:h, :w].astype(np.float64).reshape(h // REDUCE, REDUCE, w // REDUCE, REDUCE, 3)
        reduced.append(blocks.mean(axis=(1, 3)))
    return tuple(reduced)


def _sklearn_images() -> Path:
    """The folder of the photographs ``sklearn.datasets.load_sample_images`` reads: found, not
    imported, since importing scikit-learn takes seconds and decoding them is all it does."""
    spec = importlib.util.find_spec("sklearn")
    folder = Path(spec.origin).parent / "datasets" / "images" if spec and spec.origin else None
    if folder is None or not all((folder / name).is_file() for name in PHOTOGRAPHS):
        raise DataError(f"{NAME}: needs scikit-learn's sample photographs ({' and '.join(PHOTOGRAPHS)}); "
                        "install scikit-learn")
    return folder


def bilinear(photo: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``photo`` (H, W, 3) on the grids ``y`` (T, R) × ``x`` (T, C) of real positions (pixel
    centres at integers, clamped to the borders) -> (T, R, C, 3): separable bilinear
    interpolation, columns then rows; exact at integer positions."""
    h, w = photo.shape[:2]
    y, x = np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (y - y0)[:, :, None, None], (x - x0)[:, None, :, None]
    top = y0.min()
    photo, y0, y1 = photo[top:y1.max() + 1], y0 - top, y1 - top          # only the rows in reach
    t = np.arange(len(y))[:, None]
    cols = (photo[:, x0] * (1 - wx[:, 0]) + photo[:, x1] * wx[:, 0]).transpose(1, 0, 2, 3)  # (T, H, C, 3)
    return cols[t, y0] * (1 - wy) + cols[t, y1] * wy


def render(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(colours (T, 64, 64, 3) float64, coverage (T, 64, 64) bool) of one layer: each frame pixel
    whose centre falls in the box (and in the blob) takes the photograph's colour at the same
    place of the window (``colours`` holds it everywhere; ``coverage`` says where it is pasted)."""
    p = np.arange(FRAME) + 0.5                                            # pixel centres
    uy = (p - layer.centre[:, :1]) / layer.side[:, None] + 0.5            # (T, 64) rows in box sides
    ux = (p - layer.centre[:, 1:]) / layer.side[:, None] + 0.5            # (T, 64) columns
    inside = ((uy >= 0) & (uy < 1))[:, :, None] & ((ux >= 0) & (ux < 1))[:, None, :]  # (T, 64, 64)
    if layer.bumps is not None:
        cy, cx, sigma = layer.bumps.T[:, :, None, None]                   # each (BUMPS, 1, 1)
        across = np.exp(-(uy - cy) ** 2 / (2 * sigma ** 2))[..., None]    # (BUMPS, T, 64, 1): a Gaussian is separable
        along = np.exp(-(ux - cx) ** 2 / (2 * sigma ** 2))[:, :, None, :]  # (BUMPS, T, 1, 64)
        inside &= (across * along).sum(axis=0) > BLOB_LEVEL
    y = layer.origin[:, :1] + uy * layer.texture - 0.5                    # (T, 64) in the photograph's pixels
    x = layer.origin[:, 1:] + ux * layer.texture - 0.5
    return bilinear(photographs()[layer.photo], y, x), inside


def _bounced(p: np.ndarray, low: float, high: float) -> np.ndarray:
    """Free positions reflected into [low, high] by the borders."""
    span = high - low
    return low + span - np.abs(np.mod(p - low, 2 * span) - span)


def _background(rng: np.random.Generator) -> Layer:
    photo = int(rng.integers(2))
    texture = rng.uniform(*GROUND_SIDE)
    heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(*PAN) * texture / FRAME  # reduced px a frame
    path = np.arange(FRAMES)[:, None] * speed * np.array([np.sin(heading), np.cos(heading)])  # (T, 2)
    size = np.array(photographs()[photo].shape[:2])
    low, high = -path.min(axis=0), size - texture - path.max(axis=0)     # the window stays in the photograph
    origin = low + rng.random(2) * (high - low) + path
    return Layer(photo, origin, texture, np.full((FRAMES, 2), FRAME / 2), np.full(FRAMES, float(FRAME)))


def _window(rng: np.random.Generator, photo: int, texture: float, avoid: np.ndarray | None) -> np.ndarray:
    """A window's top-left in the photograph: textured (``TEXTURED``), and overlapping ``avoid`` (a
    window of the same photograph, (y, x, side)) by less than a quarter of its area, where 50
    draws find one (else the last draw)."""
    image = photographs()[photo]
    for _ in range(50):
        corner = rng.random(2) * (np.array(image.shape[:2]) - texture)
        y, x, side = int(corner[0]), int(corner[1]), int(texture)
        textured = image[y:y + side, x:x + side].std(axis=(0, 1)).mean() >= TEXTURED
        overlap = 0.0 if avoid is None else np.prod(np.clip(
            np.minimum(corner + texture, avoid[:2] + avoid[2]) - np.maximum(corner, avoid[:2]), 0, None))
        if textured and overlap < texture ** 2 / 4:
            break
    return corner


def _object(rng: np.random.Generator, ground: Layer) -> Layer:
    photo = ground.photo if rng.random() < SAME_PHOTO else 1 - ground.photo
    box = rng.uniform(*BOX)
    side = box * (1 + rng.uniform(-SCALE, SCALE) * np.arange(FRAMES) / (FRAMES - 1))  # (T,)
    texture = box * rng.uniform(*TEXTURE_SCALE)
    avoid = np.array([*ground.origin[0], ground.texture]) if photo == ground.photo else None
    origin = np.broadcast_to(_window(rng, photo, texture, avoid), (FRAMES, 2))
    heading = rng.uniform(0, 2 * np.pi) + rng.uniform(-TURN, TURN) * np.arange(FRAMES - 1)
    steps = rng.uniform(*SPEED) * np.stack([np.sin(heading), np.cos(heading)], axis=1)  # (T-1, 2)
    low, high = MARGIN * box, FRAME - MARGIN * box
    start = low + rng.random(2) * (high - low)
    free = start + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    bumps = np.column_stack([rng.uniform(*BUMP_SPAN, size=(BUMPS, 2)), rng.uniform(*BUMP_SIGMA, size=BUMPS)])
    return Layer(photo, origin, texture, _bounced(free, low, high), side, bumps)


def compose(layers: list[Layer], ground: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, 3, 64, 64) uint8, masks (T, 64, 64) uint8) of the background ``layers[0]``
    with the objects ``layers[1:]`` pasted over it in order, object k's pixels masked k. ``ground``
    (T, 3, 64, 64) uint8, if given, is the background instead: frames of a real video."""
    if ground is None:
        frames, _ = render(layers[0])                                     # the background covers every pixel
    else:
        frames = ground.transpose(0, 2, 3, 1).astype(np.float64)
    masks = np.zeros((FRAMES, FRAME, FRAME), np.uint8)
    for k, layer in enumerate(layers[1:], start=1):
        colours, inside = render(layer)
        frames[inside] = colours[inside]
        masks[inside] = k
    return np.rint(frames).clip(0, 255).astype(np.uint8).transpose(0, 3, 1, 2), masks


def layers(seed: int, index: int) -> list[Layer]:
    """The background and objects of video ``index`` of ``seed``; objects redrawn (up to 100
    times, then the last draw is kept) until each shows at least ``VISIBLE`` of its area in the
    first frame (all 360 videos of seeds 0 and 1 find one)."""
    rng = np.random.default_rng([seed, index])
    ground = _background(rng)
    count = 2 if rng.random() < TWO_OBJECTS else 1
    for _ in range(100):
        objects = [_object(rng, ground) for _ in range(count)]
        first = [render(replace(o, origin=o.origin[:1], centre=o.centre[:1], side=o.side[:1]))[1][0]
                 for o in objects]                                         # each (64, 64): its own pixels
        covered = np.zeros_like(first[0])
        shown = []
        for own in reversed(first):                                        # the later ones are in front
            shown.append((own & ~covered).sum() >= VISIBLE * own.sum() > 0)
            covered |= own
        if all(shown):
            break
    return [ground, *objects]


def clip_grounds(clips: list[np.ndarray], n: int, seed: int, part: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Backgrounds (n, 24, 3, 64, 64) uint8 from real videos ``clips`` (each (F, C, 64, 64) uint8,
    C 1 or 3): for video ``index`` of ``seed``, 24 consecutive frames of one of them (grey ones
    repeated to RGB), drawn uniformly among the windows that lie within the fraction ``part`` of
    its frames (a temporal split: training videos from the first part of each clip, held-out ones
    from the last). Drawn from a stream of their own (``(seed, index, 1)``), so the objects of
    ``layers(seed, index)`` are the same as over a photograph."""
    windows = [(k, start) for k, clip in enumerate(clips)
               for start in range(int(part[0] * len(clip)), int(part[1] * len(clip)) - FRAMES + 1)]
    if not windows:
        raise DataError(f"{NAME}: no real video has {FRAMES} frames within {part[0]:.0%}–{part[1]:.0%} of its length")
    if any(c.shape[2:] != (FRAME, FRAME) or c.shape[1] not in (1, 3) for c in clips):
        raise DataError(f"{NAME}: background videos must be (frames, 1 or 3, {FRAME}, {FRAME}) uint8")
    grounds = np.empty((n, FRAMES, 3, FRAME, FRAME), np.uint8)
    for i in range(n):
        k, start = windows[int(np.random.default_rng([seed, i, 1]).integers(len(windows)))]
        grounds[i] = np.broadcast_to(clips[k][start:start + FRAMES], (FRAMES, 3, FRAME, FRAME))
    return grounds


def generate(n: int = VIDEOS, seed: int = SEED, grounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(videos (n, 24, 3, 64, 64) uint8, masks (n, 24, 64, 64) uint8: 0 background, k object k),
    over a panning photograph, or over ``grounds`` (``clip_grounds``: real videos) if given."""
    videos = np.empty((n, FRAMES, 3, FRAME, FRAME), np.uint8)
    masks = np.empty((n, FRAMES, FRAME, FRAME), np.uint8)
    for i in range(n):
        videos[i], masks[i] = compose(layers(seed, i), None if grounds is None else grounds[i])
    return videos, masks


def write_davis(root: str | Path, n: int = 60, seed: int = HELDOUT_SEED, grounds: np.ndarray | None = None) -> Path:
    """``n`` videos of ``seed`` (default: the held-out ones; over ``grounds`` if given, as
    ``generate``) as a DAVIS-layout folder ``root``: JPEGImages/textures0000/00000.png ... (PNG:
    lossless), Annotations/textures0000/00000.png ... (index PNGs in DAVIS's palette, every frame
    annotated), ImageSets/2017/val.txt listing them."""
    root = Path(root)
    videos, masks = generate(n, seed, grounds)
    names = [f"textures{i:04d}" for i in range(n)]
    for name, video, mask in zip(names, videos, masks):
        for sub in ("JPEGImages", "Annotations"):
            (root / sub / name).mkdir(parents=True, exist_ok=True)
        for t in range(FRAMES):
            Image.fromarray(video[t].transpose(1, 2, 0)).save(root / "JPEGImages" / name / f"{t:05d}.png")
            index = Image.fromarray(mask[t], mode="P")
            index.putpalette(PALETTE)
            index.save(root / "Annotations" / name / f"{t:05d}.png")
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    return root


def main() -> None:
    p = argparse.ArgumentParser(description="Write held-out moving-textures videos as a DAVIS-layout folder.")
    p.add_argument("folder")
    p.add_argument("--videos", type=int, default=60)
    p.add_argument("--seed", type=int, default=HELDOUT_SEED, help=f"{SEED} gives the training videos")
    args = p.parse_args()
    print(write_davis(args.folder, args.videos, args.seed))


if __name__ == "__main__":
    main()
