"""Images: uint8 (N, C, H, W) at one square size, C in {1, 3}, in memory or (image folders and
shards too large for it) decoded while training; the backbone takes float (B, C, H, W) in [0, 1].
Every path, image folder, shards, IDX, .npy/.npz or data-set name that ``ssrl.data`` reads is
image data: this modality takes whatever no other one claims."""

from pathlib import Path

import torch
from torch import nn

from ssrl.config import SMALLEST_IMAGE, RunConfig, parse_bytes
from ssrl.data import held_or_streamed, load_labeled, load_source
from ssrl.data.mirror import FLIPS_OFF_ABOVE, K, mirror_ratio
from ssrl.errors import SsrlError
from ssrl.modality.base import PixelModality, Rows, SourceRows
from ssrl.notices import notice
from ssrl.ranges import check_count

MONITOR_BANK, MONITOR_QUERIES = 10_000, 2_000  # subsets keep the online kNN cheap


def _budget(cfg: RunConfig) -> int | None:
    """The run's memory budget of decoded images in bytes, None for the default."""
    return parse_bytes(cfg.memory_budget) if cfg.memory_budget else None


def _size(cfg: RunConfig, options: dict) -> int:
    """The side labeled images are read at: ``image_size`` if given, else the run's."""
    size = options.get("image_size")
    if size is None:
        return cfg.image_size
    check_count(size, "--image-size", low=SMALLEST_IMAGE)
    return size


class ImageModality(PixelModality):
    name = "image"
    default_backbone = "convnet-small"
    default_method = "simclr"
    channels_last = True
    protocols = ("knn", "linear", "finetune", "fewshot", "propagate")  # propagate: h_θ per frame
    unit = "images"
    input_name = "images"
    run_options = ("image_size", "in_channels", "channels_last", "stream", "memory_budget", "decode_on_device",
                   "skip_bad")
    data_options = ("skip_bad", "image_size")  # evaluate: leave out unreadable labeled images; read at another size

    def claims(self, spec: str) -> bool:
        return True

    def load_source(self, cfg: RunConfig, run_dir: Path | None = None) -> SourceRows:
        source = load_source(cfg.data, image_size=cfg.image_size, skip_bad=cfg.skip_bad, encoded=True)
        if cfg.limit:
            source = source.subset(slice(0, cfg.limit))
        source = held_or_streamed(source, cfg.stream, _budget(cfg))
        if cfg.decode_on_device:
            if source.in_memory:
                raise SsrlError(f"{cfg.data}: --decode-on-device decodes streamed image folders and shards; "
                                "this data is in memory (pass --stream)")
            source.images.on_device = True
        h, w = source.image_size
        if h != w:
            raise SsrlError(f"{source.name}: images are {h}×{w}; pass --image-size to make them square")
        return SourceRows(source.images, source.labels, source.name,
                          resolved={"image_size": h, "in_channels": source.channels})

    def labeled(self, run_dir: Path, cfg: RunConfig, data: str, *, test_data: str | None, seed: int,
                **options) -> tuple[Rows, Rows, str]:
        options = self.check_options(options)
        train, test, split = load_labeled(data, test_spec=test_data, image_size=_size(cfg, options), seed=seed,
                                          stream=None, budget=_budget(cfg), skip_bad=options.get("skip_bad", False))
        if train.channels != cfg.in_channels:
            raise SsrlError(f"{data}: {train.channels}-channel images, but the run was trained on {cfg.in_channels}")
        return Rows(train.images, train.labels, train.name), Rows(test.images, test.labels, test.name), split

    def embed_rows(self, run_dir: Path, cfg: RunConfig, data: str, **options) -> torch.Tensor:
        options = self.check_options(options)
        if options.get("skip_bad"):  # a skipped image would shift every row after it
            raise SsrlError("embed writes one row per image in order; it does not skip unreadable images")
        return held_or_streamed(load_source(data, image_size=_size(cfg, options), encoded=True), None,
                                _budget(cfg)).images

    def view_defaults(self, source: SourceRows, views, given: dict) -> dict:
        """No left-right flips for data that does not look like its mirror image
        (``ssrl.data.mirror``: digits, letters, icons)."""
        if "hflip" in given or not views.hflip:
            return {}
        ratio = mirror_ratio(source.rows)
        if ratio is None or ratio <= FLIPS_OFF_ABOVE:
            return {}
        notice(f"views: no left-right flips: mirrored images are unlike the data (the {K}th-nearest image of a "
               f"mirrored image is {ratio:.2f}× as far as an image's, above {FLIPS_OFF_ABOVE}); "
               f"--view hflip={views.hflip} flips")
        return {"hflip": 0.0}

    def finetune_views(self, augment: bool) -> nn.Module | None:
        from ssrl.evaluation.finetune import supervised_views

        return supervised_views() if augment else None

    def monitor(self, cfg: RunConfig):
        from ssrl.evaluation.monitor import KnnMonitor

        train, test, _ = load_labeled(cfg.monitor, image_size=cfg.image_size)
        g = torch.Generator().manual_seed(0)
        bank = torch.randperm(len(train), generator=g)[:MONITOR_BANK]
        query = torch.randperm(len(test), generator=g)[:MONITOR_QUERIES]
        return KnnMonitor(train.images[bank], train.labels[bank], test.images[query], test.labels[query])

    def traceable(self, cfg: RunConfig, backbone: nn.Module) -> tuple[nn.Module, torch.Tensor, dict]:
        example = torch.rand(2, cfg.in_channels, cfg.image_size, cfg.image_size)
        return backbone, example, {0: torch.export.Dim("batch", min=1)}

    def backbone_spec(self, cfg: RunConfig, backbone: nn.Module) -> dict:
        return {"backbone": cfg.backbone, "in_channels": cfg.in_channels, "image_size": cfg.image_size,
                "dim": backbone.dim, "input": "float32 (B, C, H, W) in [0, 1]"}
