"""Video sources, as uint8 clips (N, T, C, H, W) in memory: ``.npy``/``.npz`` arrays of clips, the
``moving-digits`` and ``moving-textures`` (unlabeled) sets, and folders of video files or of frame
folders (``ssrl.data.video_files``).

Which arrays are videos (``is_video``; only the header is read, never the data):

- a 5-d array: (N, T, C, H, W), or (N, T, H, W, C) when dim 2 is not 1 or 3 and dim 4 is,
  with C in 1, 3;
- a 4-d array that is not a stack of images by ``ssrl.data.arrays``' rule (neither dim 1 nor
  dim 3 could be channels, 1, 3 or 4): grayscale (N, T, H, W). A grayscale video of 1, 3 or 4
  frames stored 4-d reads as images: store it 5-d, (N, T, 1, H, W).

A ``.npz`` holds them under the keys image arrays use (``x`` or ``images`` with optional ``y`` or
``labels``; or ``x_train``, ``y_train``, ``x_test``, ``y_test`` for its own split), and may carry
other labels of the same videos: ``label`` names their key (``KEY``, or ``KEY_train`` and
``KEY_test`` in a split file). Pixels are uint8, uint16 or floats in [0, 1], checked as image
arrays' are (``arrays.to_uint8``), with the file named in every error.

A run's ``clip_frames`` and ``frame_stride`` cut every video to one clip: that many frames, that
far apart, from its first frame (folders of videos: 16 frames, stride 1, unless given; arrays and
moving-digits: as stored unless given). A video shorter than the clip is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ssrl.data import arrays, folder, moving_digits, moving_textures, video_files
from ssrl.data.source import check_image_size, resize_square
from ssrl.data.split import stratified_split
from ssrl.errors import DataError
from ssrl.notices import notice

CHANNELS = (1, 3)
NAMES = (moving_digits.NAME, moving_textures.NAME)


@dataclass(frozen=True)
class Videos:
    """Clips in memory: D_s (labels None) or D_t."""

    videos: torch.Tensor            # (N, T, C, H, W) uint8, C in 1 or 3
    labels: torch.Tensor | None     # (N,) int64 or None
    name: str                       # where they came from, for messages

    def __len__(self) -> int:
        return len(self.videos)

    def subset(self, index) -> Videos:
        return replace(self, videos=self.videos[index], labels=None if self.labels is None else self.labels[index])


def video_layout(shape: tuple[int, ...]) -> str | None:
    """``NTCHW``, ``NTHWC`` or ``NTHW`` for the shape of an array of videos, None for any other."""
    if len(shape) == 5:
        return "NTHWC" if shape[2] not in CHANNELS and shape[4] in CHANNELS else "NTCHW"
    if len(shape) == 4 and arrays.image_layout(shape) is None:
        return "NTHW"
    return None


def is_video(spec: str) -> bool:
    """Whether ``spec`` names video data: ``moving-digits``, or an array file whose header
    declares videos (``video_layout``)."""
    if str(spec).lower() in NAMES or video_files.is_video_folder(spec):
        return True
    path = Path(spec).expanduser()
    if path.suffix.lower() not in (".npy", ".npz") or not path.is_file():
        return False
    shape = arrays.stored_shape(path)
    return shape is not None and video_layout(shape) is not None


def videos_tensor(x: np.ndarray, where: str) -> torch.Tensor:
    """A video array -> (N, T, C, H, W) uint8 tensor, or a DataError naming ``where``."""
    layout = video_layout(x.shape)
    if layout is None:
        raise DataError(f"{where}: videos of shape {x.shape} are not (N, T, C, H, W), (N, T, H, W, C) "
                        "or (N, T, H, W)")
    if layout == "NTHW":
        x = x[:, :, None]
    elif layout == "NTHWC":
        x = x.transpose(0, 1, 4, 2, 3)
    if x.shape[2] not in CHANNELS:
        raise DataError(f"{where}: videos of shape {x.shape} have {x.shape[2]} channels; expected 1 or 3")
    if x.size == 0:
        raise DataError(f"{where}: no videos: the array has shape {x.shape}")
    return torch.from_numpy(np.ascontiguousarray(arrays.to_uint8(x, where)))


def _moving_digits(split: str, label: str | None) -> Videos:
    if split != "train":
        raise DataError(f"{moving_digits.NAME}: no {split!r} split (the data set has none; use a held-out fraction)")
    label = label or moving_digits.LABELS[0]
    if label not in moving_digits.LABELS:
        raise DataError(f"{moving_digits.NAME}: no labels {label!r}; choose {' or '.join(moving_digits.LABELS)}")
    videos, digit, direction = moving_digits.generate()
    labels = {"digit": digit, "direction": direction}[label]
    return Videos(torch.from_numpy(videos), torch.from_numpy(labels), moving_digits.NAME)


def _moving_textures(split: str, label: str | None) -> Videos:
    if split != "train":
        raise DataError(f"{moving_textures.NAME}: no {split!r} split (its held-out videos are a DAVIS folder: "
                        "python -m ssrl.data.moving_textures FOLDER)")
    if label is not None:
        raise DataError(f"{moving_textures.NAME}: unlabeled videos (no {label!r} labels); its masks are for "
                        "--protocol propagate on the DAVIS folder python -m ssrl.data.moving_textures FOLDER writes")
    videos, _ = moving_textures.generate(moving_textures.VIDEOS)
    return Videos(torch.from_numpy(videos), None, moving_textures.NAME)


def load_videos(spec: str, split: str = "train", *, label: str | None = None, image_size: int | None = None,
                clip_frames: int | None = None, frame_stride: int | None = None, skip_bad: bool = False) -> Videos:
    """One split of video data ``spec``; ``label``: which labels where it has several
    (moving-digits: ``digit`` or ``direction``; an .npz: the key); ``image_size``: frames
    resized to that side (shorter side, then centre crop); ``clip_frames``, ``frame_stride``: the
    clip cut from each video; ``skip_bad``: folders leave out unreadable or short videos, counted."""
    if str(spec).lower() in NAMES:
        named = _moving_digits if str(spec).lower() == moving_digits.NAME else _moving_textures
        videos = named(split, label)
    elif video_files.is_video_folder(spec):
        if label is not None:
            raise DataError(f"{spec}: a folder of videos has one set of labels, its class folders "
                            f"(no {label!r} labels)")
        clips, labels, where, skipped = video_files.load_video_folder(
            spec, split, image_size=image_size, clip_frames=clip_frames, frame_stride=frame_stride, skip_bad=skip_bad)
        if skipped:
            notice(f"{where}: {len(skipped):,} unreadable or too short videos left out (--skip-bad); "
                   f"first: {skipped[0]}")
        return Videos(clips, labels, where)
    else:
        path = Path(spec).expanduser()
        x, x_where, y, y_where = arrays.read_arrays(path, split, label)
        clips = videos_tensor(x, x_where)
        labels = None if y is None else arrays.labels_tensor(y, len(clips), y_where)
        videos = Videos(clips, labels, str(path))
    return at_size(cut_clips(videos, clip_frames, frame_stride), image_size)


def cut_clips(videos: Videos, clip_frames: int | None, frame_stride: int | None) -> Videos:
    """Each video's first clip of ``clip_frames`` frames ``frame_stride`` apart (None: all frames, 1)."""
    if clip_frames is None and frame_stride in (None, 1):
        return videos
    stride, t = frame_stride or 1, videos.videos.shape[1]
    frames = clip_frames or len(range(0, t, stride))
    span = video_files.clip_span(frames, stride)
    if span > t:
        raise DataError(f"{videos.name}: videos of {t} frames are too short for clips of {frames} frames "
                        f"{stride} apart (they span {span}; --clip-frames and --frame-stride choose)")
    return replace(videos, videos=videos.videos[:, :span:stride].contiguous())


def every_clip(spec: str, *, image_size: int | None = None, clip_frames: int | None = None,
               frame_stride: int | None = None, skip_bad: bool = False) -> tuple[torch.Tensor, list[tuple[str, int]]]:
    """Every clip of every video of ``spec`` (its training split), for per-clip embedding: clip k
    of a video is its frames k·span … (k+1)·span − 1, ``frame_stride`` apart (span as
    ``video_files.clip_span``); a video's tail shorter than a clip is left out. Returns (clips
    (M, T, C, S, S) uint8, [(the video: its file or index, the clip's first frame)] in the same
    order). ``clip_frames``: the run's (16 for folders when None; arrays: all their frames)."""
    stride = frame_stride or 1
    if video_files.is_video_folder(spec):
        read, where, skipped = video_files.load_whole_videos(spec, image_size=image_size, skip_bad=skip_bad)
        frames = clip_frames or video_files.DEFAULT_CLIP_FRAMES
        if skipped:
            notice(f"{where}: {len(skipped):,} unreadable videos left out (--skip-bad); first: {skipped[0]}")
        videos = [(str(path), v) for path, v in read]
    else:
        whole = load_videos(spec, image_size=image_size)
        frames = clip_frames or len(range(0, whole.videos.shape[1], stride))
        videos = [(str(i), v) for i, v in enumerate(whole.videos)]
    span = video_files.clip_span(frames, stride)
    clips, index = [], []
    for name, v in videos:
        if len(v) < span:
            message = f"{name}: {len(v)} frames, too short for one clip of {frames} frames {stride} apart (span {span})"
            if not skip_bad:
                raise DataError(message + "; --skip-bad leaves such videos out")
            continue
        for start in range(0, len(v) - span + 1, span):
            clips.append(v[start:start + span:stride])
            index.append((name, start))
    if not clips:
        raise DataError(f"{spec}: no video is long enough for one clip of {frames} frames {stride} apart")
    return torch.stack(clips), index


def at_size(videos: Videos, image_size: int | None) -> Videos:
    """``videos`` with every frame resized to image_size × image_size, where asked and different."""
    check_image_size(image_size)
    n, t, c, h, w = videos.videos.shape
    if image_size is None or (h, w) == (image_size, image_size):
        return videos
    frames = resize_square(videos.videos.reshape(n * t, c, h, w), image_size)
    return replace(videos, videos=frames.reshape(n, t, c, image_size, image_size))


def own_test_split(spec: str) -> str | None:
    """How the data stores its own test split, or None (moving-digits has none)."""
    if str(spec).lower() in NAMES:
        return None
    if video_files.is_video_folder(spec):
        root = video_files.split_prefix(spec)[1]
        return "train/ and test/ subfolders" if folder.has_own_split(root) else None
    return arrays.own_test_split(Path(spec).expanduser())


def load_videos_labeled(spec: str, *, test_spec: str | None = None, label: str | None = None,
                        image_size: int | None = None, seed: int = 0, holdout: float = 0.2,
                        **clips) -> tuple[Videos, Videos, str]:
    """(train, test, note) of labeled videos, D_t; the test split as ``ssrl.data.load_labeled``
    chooses it for images: ``test_spec``, else the data's own, else a stratified ``holdout``.
    ``clips``: ``load_videos``' clip_frames, frame_stride and skip_bad, for both splits."""
    train = load_videos(spec, "train", label=label, image_size=image_size, **clips)
    if train.labels is None:
        raise DataError(f"{spec}: no labels (store y or labels in the .npz beside the videos)")
    own = own_test_split(spec)
    if test_spec is not None or own is not None:
        test = load_videos(test_spec or spec, "train" if test_spec is not None else "test", label=label,
                           image_size=image_size or train.videos.shape[-1], **clips)
        if test.labels is None:
            raise DataError(f"{test_spec or spec}: the test data has no labels")
        if test.videos.shape[2:] != train.videos.shape[2:]:
            raise DataError(f"{test_spec or spec}: test frames of shape {tuple(test.videos.shape[2:])} (C, H, W), "
                            f"but the training data's are {tuple(train.videos.shape[2:])}")
        return train, test, f"test split: {test_spec}" if test_spec is not None else f"test split: the data set's own ({own})"
    rest, picked = stratified_split(train.labels, holdout, seed)
    return train.subset(rest), train.subset(picked), f"test split: stratified {holdout * 100:g}% held out (seed {seed})"
