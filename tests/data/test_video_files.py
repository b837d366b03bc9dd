"""Folders of video files (decoded with PyAV) and of frame folders: layout, labels, clips cut by
frames and stride, sizes, channels, and the errors: a corrupt or short video is named, or left out
and counted under skip_bad. Ends with a run on a video folder: pretrain, evaluate, embed."""

import logging
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import ssrl
from ssrl.data.video import is_video, load_videos, load_videos_labeled
from ssrl.errors import DataError
from ssrl.modality import modality_of

FRAMES, H, W = 12, 24, 32


def _write_video(path, frames: np.ndarray, codec: str = "mpeg4") -> None:
    """frames (T, H, W, 3) uint8 -> a video file (lossy: pixels come back near, not equal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "gray" if codec == "gif" else "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=stream.pix_fmt)))
        container.mux(stream.encode())


def _numbered(t: int = FRAMES, colour: bool = False) -> np.ndarray:
    """(t, H, W, 3): frame i is flat gray 20·i (or tinted red when ``colour``)."""
    x = np.repeat((np.arange(t, dtype=np.uint8) * 20)[:, None, None, None], 3, axis=3) * np.ones((1, H, W, 1), np.uint8)
    if colour:
        x[..., 0] = 250
    return x


def _frame_levels(clips) -> list[int]:
    """The gray level of each frame of the first clip, rounded to the nearest 20."""
    return [int(round(float(f.float().mean()) / 20)) * 20 for f in clips[0]]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for label in ("left", "right"):
        for k in range(4):
            _write_video(root / label / f"clip{k}.mp4", _numbered())
    return root


def test_a_folder_of_video_files_is_videos_labeled_by_its_class_folders(files):
    assert is_video(str(files)) and modality_of(str(files)).name == "video"
    v = load_videos(str(files), clip_frames=4, frame_stride=3)
    assert v.videos.shape == (8, 4, 1, H, H) and v.videos.dtype.__str__() == "torch.uint8"  # gray: 1 channel
    assert v.labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert _frame_levels(v.videos) == [0, 60, 120, 180]           # frames 0, 3, 6, 9: the stride


def test_colour_videos_keep_three_channels_and_image_size_resizes(tmp_path):
    _write_video(tmp_path / "a.mp4", _numbered(colour=True))
    v = load_videos(str(tmp_path), clip_frames=2, image_size=16)
    assert v.videos.shape == (1, 2, 3, 16, 16) and v.labels is None


def test_a_video_shorter_than_a_clip_is_named_or_left_out_and_counted(files, tmp_path, caplog):
    with pytest.raises(DataError, match=r"clip0.mp4: too short for a clip: 12 frames, and a clip spans 16"):
        load_videos(str(files))                                    # the default: 16 frames
    (tmp_path / "c").mkdir()
    _write_video(tmp_path / "c" / "long.mp4", _numbered(16))
    _write_video(tmp_path / "c" / "short.mp4", _numbered(5))
    with caplog.at_level(logging.INFO, logger="ssrl"):
        v = load_videos(str(tmp_path), skip_bad=True)
    assert v.videos.shape[:2] == (1, 16)
    assert "1 unreadable or too short videos left out (--skip-bad); first: " in caplog.text
    assert "short.mp4: too short for a clip: 5 frames" in caplog.text


def test_a_corrupt_video_is_named(tmp_path):
    _write_video(tmp_path / "good.mp4", _numbered())
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"broken.mp4: cannot decode video"):
        load_videos(str(tmp_path), clip_frames=4)
    assert len(load_videos(str(tmp_path), clip_frames=4, skip_bad=True)) == 1


def test_gifs_are_still_images_unless_named_video(tmp_path):
    _write_video(tmp_path / "anim.gif", _numbered(), codec="gif")
    assert not is_video(str(tmp_path))                              # an image folder of GIFs
    v = load_videos(f"video:{tmp_path}", clip_frames=FRAMES)
    assert v.videos.shape == (1, FRAMES, 1, H, H) and _frame_levels(v.videos)[:3] == [0, 20, 40]


def test_frame_folders_in_natural_order_with_classes_and_an_own_split(tmp_path):
    for split, count in (("train", 2), ("test", 1)):
        for label in ("cat", "dog"):
            for k in range(count):
                video = tmp_path / split / label / f"video{k}"
                video.mkdir(parents=True)
                for i in range(FRAMES):                             # frame_10 sorts after frame_9
                    Image.fromarray(np.full((H, H), 20 * i, np.uint8)).save(video / f"frame_{i}.png")
    spec = f"frames:{tmp_path}"
    train, test, note = load_videos_labeled(spec, clip_frames=FRAMES)
    assert train.videos.shape == (4, FRAMES, 1, H, H) and test.videos.shape == (2, FRAMES, 1, H, H)
    assert train.labels.tolist() == [0, 0, 1, 1] and test.labels.tolist() == [0, 1] and "own" in note
    assert _frame_levels(train.videos) == [20 * i for i in range(FRAMES)]


def test_unlabeled_frame_folders_and_a_folder_without_any(tmp_path):
    video = tmp_path / "v" / "one"
    video.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((H, H, 3), 9, np.uint8)).save(video / f"{i:03d}.jpg")
    v = load_videos(f"frames:{tmp_path / 'v'}", clip_frames=4)
    assert v.videos.shape == (1, 4, 1, H, H) and v.labels is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no frame folders"):
        load_videos(f"frames:{tmp_path / 'empty'}")


def test_without_pyav_the_error_says_how_to_install_it(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(DataError, match=r'pip install "ssrl\[video\]"'):
        load_videos(str(files), clip_frames=4, skip_bad=True)       # not mistaken for bad files


def test_a_run_on_a_video_folder_pretrains_evaluates_and_embeds(files, tmp_path):
    run = ssrl.pretrain(str(files), "arrow_of_time", out=tmp_path / "run", max_steps=2, batch_size=4,
                        clip_frames=8, progress=False)
    cfg = ssrl.runs.run_config(run)
    assert (cfg.clip_frames, cfg.frame_stride, cfg.image_size, cfg.in_channels) == (8, 1, H, 1)
    result = ssrl.evaluate(run, str(files), "knn", save=False)      # clips cut as the run's were
    assert (result["n_train"], result["n_test"]) == (6, 2) and 0 <= result["top1"] <= 1
    features = ssrl.embed(run, str(files), tmp_path / "f.npy")
    assert features.shape == (8, 128) and np.isfinite(features).all()


def test_every_clip_of_frame_folders_whatever_their_lengths(tmp_path):
    from ssrl.data.video import every_clip

    for name, count in (("long", 9), ("short", 5), ("tiny", 3)):
        video = tmp_path / name
        video.mkdir()
        for i in range(count):
            Image.fromarray(np.full((H, H), 20 * i, np.uint8)).save(video / f"{i:02d}.png")
    with pytest.raises(DataError, match="tiny.*3 frames, too short"):
        every_clip(f"frames:{tmp_path}", clip_frames=4)
    clips, index = every_clip(f"frames:{tmp_path}", clip_frames=4, skip_bad=True)
    assert [(Path(v).name, s) for v, s in index] == [("long", 0), ("long", 4), ("short", 0)]
    assert clips.shape == (3, 4, 1, H, H)
    assert _frame_levels(clips[1:2]) == [20 * i for i in range(4, 8)]
