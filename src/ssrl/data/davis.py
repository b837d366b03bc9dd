"""Videos with segmentation masks, laid out as DAVIS is (Pont-Tuset et al. 2017), for the
label propagation protocol (``ssrl.evaluation.propagation``)::

    ROOT/JPEGImages/480p/VIDEO/00000.jpg 00001.jpg ...   frames (JPEG or PNG), natural name order
    ROOT/Annotations/480p/VIDEO/00000.png ...            masks, one per annotated frame, same stem
    ROOT/ImageSets/2017/val.txt                          optional: the videos to read, one a line

The ``480p/`` level is optional (``JPEGImages/VIDEO/...`` works too); when present it is used
(DAVIS also ships ``Full-Resolution/``, read when it is the only level). A mask is an index PNG: in a palette (mode "P") or
grayscale image the pixel value is the object id, 0 the background, 255 "void" (left out of the
metrics, as DAVIS does); a grayscale mask of only 0 and 255 is DAVIS 2016's binary form, one
object. The first frame must be annotated (its mask is what is propagated); later frames without
a mask are propagated but not scored (DAVIS's test sets annotate only the first).

Videos: those a ``val.txt`` under ``ImageSets/`` lists (the last in path order, so DAVIS 2017's
before 2016's), else those of the only list there, else every video folder. A list's line is a
video name or, as DAVIS 2016 writes it, a frame's path (its folder names the video).

Frames are read as RGB and resized, aspect kept, to a shorter side of at most ``side`` px (bilinear
with antialiasing); masks stay at their own size, where DAVIS computes its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ssrl.data.decode import check_regular
from ssrl.data.video_files import _frame_files
from ssrl.errors import DataError

WORKING_SIDE = 96   # px: the frames' shorter side by default (the papers use 480; a CPU wants less)
VOID = 255          # DAVIS's id of pixels left out of the metrics
RESOLUTION = "480p"


@dataclass(frozen=True)
class DavisFolder:
    """A DAVIS-layout folder: where its frames and masks are, and the videos to read."""

    root: Path
    frames: Path          # the folder holding one folder of frames per video
    annotations: Path     # the folder holding one folder of masks per video
    videos: list[str]
    listed_by: Path | None  # the ImageSets list the videos came from, or None for all

    def describe(self) -> str:
        where = f"listed in {self.listed_by.relative_to(self.root)}" if self.listed_by else "every video folder"
        return f"{len(self.videos):,} video{'s' if len(self.videos) != 1 else ''} of {self.root} ({where})"


@dataclass(frozen=True)
class SegmentedVideo:
    """One video: frames at the working size, masks at their own size."""

    name: str
    frames: torch.Tensor     # (T, 3, h, w) uint8 RGB at the working size
    masks: torch.Tensor      # (T, H, W) uint8 object ids at the annotations' size; zeros where not annotated
    annotated: torch.Tensor  # (T,) bool: which frames have a mask

    @property
    def objects(self) -> list[int]:
        """The object ids of the first frame's mask (what is propagated), background and void left out."""
        return [int(i) for i in torch.unique(self.masks[0]) if 0 < i < VOID]


def is_davis(spec) -> bool:
    root = Path(str(spec)).expanduser()
    return (root / "JPEGImages").is_dir() and (root / "Annotations").is_dir()


def _level(top: Path) -> Path:
    """``top/480p`` when it exists, else ``top`` when it holds frame folders, else its only
    subfolder (DAVIS's ``Full-Resolution/`` alone)."""
    if (top / RESOLUTION).is_dir():
        return top / RESOLUTION
    levels = [d for d in top.iterdir() if d.is_dir() and not d.name.startswith(".")] if top.is_dir() else []
    if not _video_folders(top) and len(levels) == 1 and _video_folders(levels[0]):
        return levels[0]
    return top


def _video_folders(top: Path) -> list[str]:
    return sorted(d.name for d in top.iterdir() if d.is_dir() and not d.name.startswith(".") and _frame_files(d))


def _listed(root: Path) -> tuple[list[str] | None, Path | None]:
    sets = root / "ImageSets"
    lists = sorted(sets.rglob("*.txt")) if sets.is_dir() else []
    chosen = [f for f in lists if f.name == "val.txt"] or (lists if len(lists) == 1 else [])
    if not chosen:
        return None, None
    path, names = chosen[-1], []
    for line in path.read_text().splitlines():
        if line.strip():
            token = line.split()[0]
            name = Path(token).parent.name if "/" in token else token
            if name not in names:
                names.append(name)
    return names, path


def davis_folder(spec) -> DavisFolder:
    """The videos of a DAVIS-layout folder, or a DataError saying what is missing."""
    root = Path(str(spec)).expanduser()
    if not is_davis(root):
        raise DataError(f"{root}: not a DAVIS-layout folder (it needs JPEGImages/ and Annotations/, each with "
                        "[480p/]VIDEO/ folders of frames and of index-PNG masks)")
    frames, annotations = _level(root / "JPEGImages"), _level(root / "Annotations")
    present = _video_folders(frames)
    names, listed_by = _listed(root)
    if names is None:
        names = present
    missing = [n for n in names if n not in present]
    if missing:
        raise DataError(f"{listed_by}: lists {len(missing)} video(s) with no folder of frames in {frames}: "
                        f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}")
    if not names:
        raise DataError(f"no videos found in {frames} (one folder of JPEG/PNG frames per video)")
    return DavisFolder(root, frames, annotations, names, listed_by)


def read_mask(path: Path) -> np.ndarray:
    """(H, W) uint8 object ids of an index-PNG mask (see the module's docstring)."""
    check_regular(path)
    try:
        with Image.open(path) as img:
            mode = img.mode
            ids = np.asarray(img if mode in ("P", "L", "1") else img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read mask ({exc})") from exc
    if mode == "1":
        return ids.astype(np.uint8)
    if mode not in ("P", "L"):
        raise DataError(f"{path}: a mode-{mode} image; masks are index PNGs (palette or grayscale) whose pixel "
                        "values are object ids, 0 the background")
    if mode == "L" and set(np.unique(ids).tolist()) <= {0, 255}:
        return (ids > 0).astype(np.uint8)  # DAVIS 2016: binary masks stored as 0/255
    return ids.astype(np.uint8)


def _read_frame(path: Path, side: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """((3, h, w) uint8 at a shorter side of at most ``side``, the frame's own (H, W))."""
    check_regular(path)
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read frame ({exc})") from exc
    w, h = img.size
    scale = min(1.0, side / min(w, h))
    if scale < 1:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous(), (h, w)


def read_video(folder: DavisFolder, name: str, side: int = WORKING_SIDE,
               max_frames: int | None = None) -> SegmentedVideo:
    """One video of ``folder``: its frames (the first ``max_frames`` if given) and their masks."""
    files = _frame_files(folder.frames / name)[:max_frames]
    masks_dir = folder.annotations / name
    first = masks_dir / (files[0].stem + ".png")
    if not first.is_file():
        raise DataError(f"{first}: missing: the first frame's mask ({files[0].name}) is what is propagated")
    frames, masks, annotated, size = [], [], [], None
    for f in files:
        frame, own = _read_frame(f, side)
        if size is None:
            size = own
        elif own != size or frame.shape[1:] != frames[0].shape[1:]:
            raise DataError(f"{f}: {own[1]}×{own[0]} px, but the video's first frame is {size[1]}×{size[0]}")
        mask_file = masks_dir / (f.stem + ".png")
        mask = read_mask(mask_file) if mask_file.is_file() else None
        if mask is not None and mask.shape != own:
            raise DataError(f"{mask_file}: mask of {mask.shape[1]}×{mask.shape[0]} px, but its frame {f.name} "
                            f"is {own[1]}×{own[0]}")
        frames.append(frame)
        masks.append(torch.from_numpy(mask) if mask is not None else torch.zeros(own, dtype=torch.uint8))
        annotated.append(mask is not None)
    return SegmentedVideo(name, torch.stack(frames), torch.stack(masks), torch.tensor(annotated))
