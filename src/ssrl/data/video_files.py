"""Video files and frame folders, decoded into clips: uint8 (N, T, C, S, S) in memory.

Two sources, laid out as image folders are (``ssrl.data.folder``: class subfolders give labels,
``train/`` and ``test/`` give the split, files loose in the root are unlabeled):

- **a folder of video files** (``VIDEO_EXTENSIONS``: .mp4, .avi, .mkv, .webm, .mov, .gif). A
  folder is read as videos when the first media file of its sorted walk is a video; a folder of
  GIFs is read as still images unless named ``video:PATH``;
- **a folder of frame folders**, ``frames:PATH``: one folder of JPEG/PNG frames per video, the
  frames in natural order of their names (``frame_2`` before ``frame_10``); class folders (and
  ``train/``/``test/``) above them, or the frame folders directly in the root (unlabeled).

Video files are decoded with PyAV, whose wheels on the package index bundle FFmpeg and its codecs
(torchcodec, the alternative, needs FFmpeg installed on the system); frames with the image decoder
(``ssrl.data.decode``). A clip is ``clip_frames`` frames ``frame_stride`` apart from a video's first
frame (``clip_span``). A video with fewer frames than the clip spans is reported, never padded or
looped: a DataError naming it and its frame count, or with ``skip_bad`` left out and counted, as is
a file that cannot be decoded.

Frames are resized (shorter side, then centre crop) to ``image_size``, else to the videos' own
size when they all share one square size, else to their most common shorter side; at most
``MAX_SIDE`` px unless ``image_size`` asks for more, so that the clips fit in memory. Channels:
1 when every frame of every clip is gray (``is_gray``: R, G and B within a few levels of each
other, which leaves room for a codec's noise), else 3.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ssrl.data import folder
from ssrl.data.decode import decode, header
from ssrl.data.source import resize_square
from ssrl.errors import DataError
from ssrl.notices import interactive, notice

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif"}
FRAME_EXTENSIONS = {".png", ".jpg", ".jpeg"}
PREFIXES = {"video:": "files", "frames:": "frames"}
MAX_SIDE = 64               # px; the largest working size chosen without --image-size
DEFAULT_CLIP_FRAMES = 16    # frames per clip when the run does not say (--clip-frames)
MAX_FRAMES = 1024           # frames read of a whole video (per-clip embedding), at most
GRAY_SPREAD = 4             # levels: the most a gray video's channels differ after lossy coding


def clip_span(clip_frames: int, frame_stride: int) -> int:
    """Frames a clip covers, first to last."""
    return (clip_frames - 1) * frame_stride + 1


def split_prefix(spec: str) -> tuple[str | None, Path]:
    """(``files``, ``frames`` or None, the path) of a data spec with or without a prefix."""
    for prefix, kind in PREFIXES.items():
        if str(spec).startswith(prefix):
            return kind, Path(str(spec)[len(prefix):]).expanduser()
    return None, Path(str(spec)).expanduser()


def is_video_folder(spec: str) -> bool:
    """Whether ``spec`` names a folder of videos: a prefix, or a folder whose first media file
    (sorted walk, hidden entries skipped) is a video other than a GIF."""
    kind, path = split_prefix(spec)
    if kind is not None:
        return True
    if not path.is_dir():
        return False
    videos = VIDEO_EXTENSIONS - {".gif"}
    for f in _walk(path):
        if f.suffix.lower() in videos | folder.EXTENSIONS:
            return f.suffix.lower() in videos
    return False


def _walk(root: Path):
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            yield from _walk(entry)
        else:
            yield entry


def _natural(path: Path) -> list:
    """Sort key of a frame's name: its runs of digits compared as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _frame_files(video: Path) -> list[Path]:
    return sorted((f for f in video.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.suffix.lower() in FRAME_EXTENSIONS), key=_natural)


def _frame_layout(root: Path) -> folder._Layout:
    """The frame folders of ``root`` per split, with labels when class folders hold them."""
    tops = {s: root / s for s in folder.SPLITS} if folder.has_own_split(root) else {"all": root}
    found = {s: folder._subfolders(top) for s, top in tops.items()}
    if any(_frame_files(v) for videos in found.values() for v in videos):  # videos directly in the root
        return folder._Layout({s: [v for v in videos if _frame_files(v)] for s, videos in found.items()}, None, None)
    classes = sorted({c.name for videos in found.values() for c in videos
                      if any(_frame_files(v) for v in folder._subfolders(c))})
    files, labels = {}, {}
    for s, top in tops.items():
        pairs = [(v, i) for i, c in enumerate(classes) if (top / c).is_dir()
                 for v in folder._subfolders(top / c) if _frame_files(v)]
        files[s], labels[s] = [v for v, _ in pairs], [i for _, i in pairs]
    return folder._Layout(files, labels, classes or None)


def _av():
    """PyAV, or an error saying how to install it."""
    try:
        import av
    except ImportError as exc:
        raise DataError('reading video files needs PyAV: pip install "ssrl[video]" (or: pip install av)') from exc
    return av


def _file_size(path: Path) -> tuple[int, int]:
    """(W, H) of a video file's first video stream, from its header."""
    with _av().open(str(path)) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        context = container.streams.video[0].codec_context
        return context.width, context.height


def _read_file(path: Path, span: int, stride: int) -> tuple[list[np.ndarray], int]:
    """(frames 0, stride, ... < span of a video file, each (H, W, 3) uint8 RGB; frames decoded)."""
    frames, i = [], -1
    with _av().open(str(path)) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i >= span:
                break
            if i % stride == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
    return frames, min(i + 1, span)


class _Reader:
    """Clips of one kind of source: each video's size from its header, its frames decoded."""

    def __init__(self, kind: str, span: int, stride: int, whole: bool = False):
        self.kind, self.span, self.stride, self.whole = kind, span, stride, whole  # whole: up to span frames

    def size(self, video: Path) -> tuple[int, int]:
        if self.kind == "files":
            return _file_size(video)
        return header(_frame_files(video)[0])[0]

    def clip(self, video: Path, size: int) -> torch.Tensor:
        """(T, 3, size, size) uint8, or a DataError naming the video when it is too short."""
        if self.kind == "files":
            frames, seen = _read_file(video, self.span, self.stride)
        else:
            files = _frame_files(video)
            frames, seen = files[:self.span:self.stride], len(files)
        if seen < self.span and not self.whole:
            needed = len(range(0, self.span, self.stride))
            raise DataError(f"{video}: too short for a clip: {seen} frames, and a clip spans {self.span} "
                            f"({needed} frames {self.stride} apart; --clip-frames and --frame-stride choose)")
        if self.kind == "files":
            return resize_square(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2), size)
        return torch.stack([decode(f, "RGB", size) for f in frames])


def is_gray(clips: torch.Tensor) -> bool:
    """Whether RGB clips (N, T, 3, S, S) show gray frames: no pixel's channels differ by more than
    GRAY_SPREAD levels (a gray video stored with colour planes comes back with codec noise in them)."""
    return int((clips.amax(dim=2) - clips.amin(dim=2)).max()) <= GRAY_SPREAD


def working_side(where, sizes: Counter, image_size: int | None) -> int:
    """``image_size``, else the frames' own or most common size (``folder.working_size``) capped
    at MAX_SIDE, stated when it is not every video's own square size."""
    if image_size is not None:
        return image_size
    side = min(folder.working_size(sizes), MAX_SIDE)
    if len(sizes) > 1 or any(w != h or w != side for w, h in sizes):
        top = ", ".join(f"{w}×{h}: {n:,}" for (w, h), n in sizes.most_common(3))
        notice(f"{where}: frames of {top}{', ...' if len(sizes) > 3 else ''}; working size {side} px "
               f"(at most {MAX_SIDE} px unless --image-size asks for more)")
    return side


def load_video_folder(spec: str, split: str = "train", *, image_size: int | None = None,
                      clip_frames: int | None = None, frame_stride: int | None = None,
                      skip_bad: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, str, list[str]]:
    """One split of a folder of videos -> (clips (N, T, C, S, S) uint8, labels or None, where, skipped).

    ``split`` "train" is the whole folder when it has no ``train/``/``test/``. ``skipped`` lists
    the messages of the videos left out under ``skip_bad``."""
    clip_frames, frame_stride = clip_frames or DEFAULT_CLIP_FRAMES, frame_stride or 1
    span = clip_span(clip_frames, frame_stride)
    read, where, skipped = _read_split(spec, split, image_size, skip_bad, span, frame_stride)
    x = torch.stack([clip for _, clip, _ in read])
    if is_gray(x):
        x = x[:, :, :1].contiguous()
    labels = None if read[0][2] is None else torch.tensor([label for _, _, label in read])
    return x, labels, where, skipped


def load_whole_videos(spec: str, *, image_size: int | None = None, skip_bad: bool = False,
                      max_frames: int = MAX_FRAMES) -> tuple[list[tuple[Path, torch.Tensor]], str, list[str]]:
    """Every video of a folder (its "train" split) whole, up to ``max_frames`` frames each: (
    [(path, frames (T, C, S, S) uint8)], where, skipped), C 1 where every video is gray."""
    read, where, skipped = _read_split(spec, "train", image_size, skip_bad, max_frames, 1, whole=True)
    videos = [(path, frames) for path, frames, _ in read]
    if all(is_gray(frames[None]) for _, frames in videos):
        videos = [(path, frames[:, :1].contiguous()) for path, frames in videos]
    return videos, where, skipped


def _read_split(spec: str, split: str, image_size: int | None, skip_bad: bool, span: int, stride: int,
                whole: bool = False) -> tuple[list[tuple[Path, torch.Tensor, int | None]], str, list[str]]:
    """The videos of one split, each as (path, frames, label or None), decoded at one working side."""
    kind, root = split_prefix(spec)
    kind = kind or "files"
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (video data is a folder of video files, or frames:FOLDER of frame folders)")
    layout = folder._layout(root, VIDEO_EXTENSIONS) if kind == "files" else _frame_layout(root)
    key = split if folder.has_own_split(root) else "all" if split == "train" else None
    if key not in layout.files:
        raise DataError(f"{root}: no {split!r} split (an own split needs train/ and test/ subfolders)")
    where = root if key == "all" else root / split
    what = "video files" if kind == "files" else "frame folders (one folder of JPEG/PNG frames per video)"
    if not layout.files[key]:
        raise DataError(f"no {what} found in {where}")

    if kind == "files":
        _av()  # missing PyAV is not a bad file
    reader, skipped = _Reader(kind, span, stride, whole), []
    sizes: dict[Path, tuple[int, int]] = {}
    for part, videos in layout.files.items():  # every split: train and test get one size
        for video in videos:
            try:
                sizes[video] = reader.size(video)
            except Exception as exc:  # PyAV and PIL raise many types on broken files
                if part == key:
                    _bad(video, exc, skip_bad, skipped)
    side = working_side(root, Counter(sizes.values()), image_size)
    read = []
    videos = [(i, v) for i, v in enumerate(layout.files[key]) if v in sizes]
    for i, video in tqdm(videos, desc="decoding videos", disable=len(videos) < 50 or not interactive()):
        try:
            read.append((video, reader.clip(video, side), None if layout.labels is None else layout.labels[key][i]))
        except Exception as exc:
            _bad(video, exc, skip_bad, skipped)
    if not read:
        raise DataError(f"no readable {what} in {where}" + (f"; first: {skipped[0]}" if skipped else ""))
    return read, str(where), skipped


def _bad(video: Path, exc: Exception, skip: bool, skipped: list[str]) -> None:
    error = exc if isinstance(exc, DataError) else DataError(
        f"{video}: cannot decode video ({type(exc).__name__}: {' '.join(str(exc).split())})")
    if not skip:
        raise error from exc
    skipped.append(str(error))
