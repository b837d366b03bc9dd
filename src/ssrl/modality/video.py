"""Videos: uint8 clips (N, T, C, H, W) with square frames, C in {1, 3} (``ssrl.data.video``: video
arrays and ``moving-digits``); the backbone takes float (B, T, C, H, W) in [0, 1].

h_θ is an image backbone applied to every frame, or a clip backbone (``r2plus1d-mini``) that takes
the clip whole (``ssrl.backbones.frames``): built, trained and saved as for images
(``backbone_dims`` are the frames' channels and side), with the methods combining per-frame or
clip features, and ``embed`` and every protocol but ``propagate`` reading one vector per video
(``FramePooled``, ``feature_backbone``; ``pool``: the frames' mean, or ``trend``, their mean beside
their linear trend over time, which a probe of motion needs, or ``order``, every frame in time
order, for the frozen probes and embed only): fine-tuning and training from scratch
train h_θ through it, without augmentation (a crop or flip would have to be the same for every
frame of a clip).
Labeled videos are split as images are: the data's own train/test, else a stratified hold-out.
Labeled still images are read as one-frame videos, so a run's h_θ can be evaluated on them.
``label_column`` picks the labels of data that carries several (moving-digits: ``digit``, the
default, or ``direction``; an .npz: the key).
"""

from pathlib import Path

import torch
from torch import nn

from ssrl.backbones.frames import CLIP_BACKBONES, POOLS, FramePooled
from ssrl.config import RunConfig
from ssrl.data.video import every_clip, is_video, load_videos, load_videos_labeled
from ssrl.errors import SsrlError
from ssrl.modality.base import PixelModality, Rows, SourceRows

EXAMPLE_FRAMES = 4  # frames of the example clip an export traces (any number works)


class VideoModality(PixelModality):
    name = "video"
    default_backbone = "convnet-small"
    default_method = "arrow_of_time"
    channels_last = True    # h_θ sees frames (B·T, C, H, W), as an image CNN does
    protocols = ("knn", "linear", "finetune", "fewshot", "propagate")
    unit = "videos"
    input_name = "videos"
    run_options = ("image_size", "in_channels", "channels_last", "clip_frames", "frame_stride")
    data_options = ("label_column", "pool")  # which labels (moving-digits: digit or direction); the video vector

    def claims(self, spec: str) -> bool:
        return is_video(spec)

    def channels_last_for(self, backbone: str | None) -> bool:
        return backbone not in CLIP_BACKBONES  # NHWC is for 4-d activations

    def load_source(self, cfg: RunConfig, run_dir: Path | None = None) -> SourceRows:
        videos = load_videos(cfg.data, image_size=cfg.image_size, **_clips(cfg))
        if cfg.limit:
            videos = videos.subset(slice(0, cfg.limit))
        _, t, c, h, w = videos.videos.shape
        if h != w:
            raise SsrlError(f"{videos.name}: frames are {h}×{w}; pass --image-size to make them square")
        return SourceRows(videos.videos, videos.labels, videos.name,
                          resolved={"image_size": h, "in_channels": c, "clip_frames": t,
                                    "frame_stride": cfg.frame_stride or 1})

    def labeled(self, run_dir: Path, cfg: RunConfig, data: str, *, test_data: str | None, seed: int,
                **options) -> tuple[Rows, Rows, str]:
        options = self.check_options(options)
        if not is_video(data) and (test_data is None or not is_video(test_data)):
            return _still_images(run_dir, cfg, data, test_data, seed)
        train, test, split = load_videos_labeled(data, test_spec=test_data, label=options.get("label_column"),
                                                 image_size=cfg.image_size, seed=seed, **_clips(cfg))
        if train.videos.shape[2] != cfg.in_channels:
            raise SsrlError(f"{data}: {train.videos.shape[2]}-channel videos, but the run was trained on "
                            f"{cfg.in_channels}")
        return Rows(train.videos, train.labels, train.name), Rows(test.videos, test.labels, test.name), split

    def embed_rows(self, run_dir: Path, cfg: RunConfig, data: str, **options) -> torch.Tensor:
        self.check_options(options)
        return load_videos(data, image_size=cfg.image_size, **_clips(cfg)).videos

    def embed_clips(self, cfg: RunConfig, data: str, **options) -> tuple[torch.Tensor, list[tuple[str, int]]]:
        """Every clip of every video of ``data``, cut as the run cuts its clips, and which video and
        first frame each is (``ssrl.data.video.every_clip``)."""
        self.check_options(options)
        return every_clip(data, image_size=cfg.image_size, **_clips(cfg))

    def feature_backbone(self, backbone: nn.Module, pool: str | None = None, **options) -> nn.Module:
        if (pool or POOLS[0]) not in POOLS:
            raise SsrlError(f"unknown pooling {pool!r} for videos; choose one of: {', '.join(POOLS)}")
        return FramePooled(backbone, pool or POOLS[0])

    def result_fields(self, label_column: str | None = None, pool: str | None = None, **options) -> dict:
        return {**({"label_column": label_column} if label_column else {}), "pool": pool or POOLS[0]}

    def traceable(self, cfg: RunConfig, backbone: nn.Module) -> tuple[nn.Module, torch.Tensor, dict]:
        example = torch.rand(2, EXAMPLE_FRAMES, cfg.in_channels, cfg.image_size, cfg.image_size)
        return FramePooled(backbone), example, {0: torch.export.Dim("batch", min=1),
                                                1: torch.export.Dim("frames", min=2)}

    def backbone_spec(self, cfg: RunConfig, backbone: nn.Module) -> dict:
        return {"backbone": cfg.backbone, "in_channels": cfg.in_channels, "image_size": cfg.image_size,
                "dim": backbone.dim, "per_frame": True,
                "input": "float32 videos (B, T, C, H, W) in [0, 1]; the weights are an image backbone's, applied "
                         "to every frame (B·T, C, H, W), and a video's features are the mean of its frames'"}


def _clips(cfg: RunConfig) -> dict:
    """The run's clip options, for its source and for the data it is evaluated on."""
    return {"clip_frames": cfg.clip_frames, "frame_stride": cfg.frame_stride, "skip_bad": cfg.skip_bad}


def _still_images(run_dir: Path, cfg: RunConfig, data: str, test_data: str | None, seed: int) -> tuple[Rows, Rows, str]:
    """Labeled images as one-frame videos: a video run's h_θ evaluated on still images (as
    Shuffle and Learn's features were transferred to image tasks)."""
    from ssrl.modality.image import ImageModality

    train, test, split = ImageModality().labeled(run_dir, cfg, data, test_data=test_data, seed=seed,
                                                 skip_bad=cfg.skip_bad)
    for rows in (train, test):
        if not isinstance(rows.rows, torch.Tensor):
            raise SsrlError(f"{data}: a video run evaluates still images held in memory; these are streamed "
                            "(too large for the memory budget)")
    return (Rows(train.rows.unsqueeze(1), train.labels, train.name),
            Rows(test.rows.unsqueeze(1), test.labels, test.name), split + "; images read as one-frame videos")
