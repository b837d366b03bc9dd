"""The ``Modality`` interface: everything that differs between kinds of data (images, text, ...).

A modality knows how a data spec becomes rows in memory (D_s for pretraining, a labeled train /
test pair D_t for evaluation), how a batch of stored rows becomes the backbone's input, what
dimensions a backbone is built for, and what a run of its kind saves beside the weights. The
resolution step, the engine and the API call these and never branch on the kind of data.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ssrl.config import RunConfig
from ssrl.data import to_unit
from ssrl.errors import SsrlError


@dataclass(frozen=True)
class Rows:
    """Stored rows of one data set as the engine and the protocols take them."""

    rows: torch.Tensor                 # (N, ...): uint8 images (N, C, H, W), token ids (N, T), ...
    labels: torch.Tensor | None        # (N,) int64, or None for unlabeled data
    name: str = ""                     # where they came from, for messages

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index) -> "Rows":
        """The rows (and labels) at ``index``: a LongTensor or a slice. Images still encoded stay
        so (``EncodedImages.subset``): indexing them would decode them all here."""
        rows = self.rows.subset(index) if hasattr(self.rows, "subset") else self.rows[index]
        return replace(self, rows=rows, labels=None if self.labels is None else self.labels[index])


@dataclass(frozen=True)
class SourceRows(Rows):
    """D_s as pretraining reads it, with the ``RunConfig`` fields the data decided (an image
    size, a vocabulary size) and what the run saves from it (``files``: name -> writer)."""

    resolved: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)   # file name in the run directory -> callable(path)


class Modality:
    """One kind of data. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    default_backbone: ClassVar[str]
    default_method: ClassVar[str]                      # a run given no method gets this one
    channels_last: ClassVar[bool] = False              # NHWC activations (CNNs on images)
    protocols: ClassVar[tuple[str, ...]] = ("knn", "linear", "finetune")
    unit: ClassVar[str] = "rows"                       # what one row is, in messages ("images")
    largest_chosen_batch: ClassVar[int] = 256          # the largest batch a run given none gets
    data_options: ClassVar[tuple[str, ...]] = ()       # keyword options of evaluate / embed (text_column, ...)
    input_name: ClassVar[str] = "inputs"               # the ONNX export's input
    run_files: ClassVar[tuple[str, ...]] = ()          # files of the run an export must carry (a tokenizer)
    run_options: ClassVar[tuple[str, ...]] = ()        # RunConfig fields only this modality reads (a report
                                                       # of another modality's run leaves them out)

    def channels_last_for(self, backbone: str | None) -> bool:
        """Whether a run of this data on ``backbone`` (a name) computes in NHWC by default."""
        return self.channels_last

    def claims(self, spec: str) -> bool:
        """Whether the data spec is of this kind, from its form alone (before reading it)."""
        raise NotImplementedError

    def load_source(self, cfg: RunConfig, run_dir: Path | None = None) -> SourceRows:
        """D_s of ``cfg`` (its first ``cfg.limit`` rows if set). ``run_dir``: a run being resumed,
        whose saved files (a tokenizer) must be reused rather than made again."""
        raise NotImplementedError

    def backbone_dims(self, cfg: RunConfig) -> tuple[int, ...]:
        """The dimensions a backbone factory takes for a resolved run (``register_backbone``)."""
        raise NotImplementedError

    def to_input(self, rows: torch.Tensor) -> torch.Tensor:
        """A batch of stored rows (already on the device) as the backbone's input."""
        return rows

    def lengths(self, rows: torch.Tensor) -> torch.Tensor | None:
        """Per-row lengths for batching similar rows together, or None."""
        return None

    def labeled(self, run_dir: Path, cfg: RunConfig, data: str, *, test_data: str | None, seed: int,
                **options) -> tuple[Rows, Rows, str]:
        """D_t: (train, test, one sentence saying how the test split was chosen), encoded as the
        run's D_s was (its image size, its tokenizer)."""
        raise NotImplementedError

    def embed_rows(self, run_dir: Path, cfg: RunConfig, data: str, **options) -> torch.Tensor:
        """Every row of ``data``, for ``embed``."""
        raise NotImplementedError

    def own_output(self, run_dir: Path, backbone: nn.Module, out: Path):
        """For ``embed``: where ``out`` names a file format of this modality's own (text: the
        vocabulary's vectors in word2vec's format), write it and return what it holds; else None."""
        return None

    def feature_backbone(self, backbone: nn.Module, **options) -> nn.Module:
        """The backbone as the frozen-feature protocols read it (text: its pooling)."""
        return backbone

    def result_fields(self, **options) -> dict:
        """Options that shape a result, recorded in it (text: the pooling)."""
        return {}

    def view_defaults(self, source: SourceRows, views, given: dict) -> dict:
        """View options this data decides (a run's ``views`` dict entries), where the method's
        ``views`` (a ``ViewConfig``) would do otherwise and the user did not set them (``given``)."""
        return {}

    def finetune_views(self, augment: bool) -> nn.Module | None:
        """The augmentation of fine-tuning and training from scratch, or None."""
        return None

    def monitor(self, cfg: RunConfig):
        """A Lightning callback evaluating the backbone online on ``cfg.monitor``."""
        raise SsrlError(f"--monitor (an online kNN) is not available for {self.name} data")

    def backbone_spec(self, cfg: RunConfig, backbone: nn.Module) -> dict:
        """What ``backbone.json`` says: how to rebuild h_θ and what its input is."""
        raise NotImplementedError

    def traceable(self, cfg: RunConfig, backbone: nn.Module) -> tuple[nn.Module, torch.Tensor, dict]:
        """For export: (the module to trace, an example input, its dynamic dimensions as
        ``torch.export.Dim``s by axis); the batch axis is always dynamic."""
        raise NotImplementedError

    def check_options(self, options: dict) -> dict:
        """``options`` without the unset ones; an option this modality does not take is an error."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(given) - set(self.data_options))
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise SsrlError(f"{flags}: not an option for {self.name} data"
                            + (f" (it takes {', '.join(self.data_options)})" if self.data_options else ""))
        return given


class PixelModality(Modality):
    """A modality of uint8 pixels (images, video frames) whose backbone is built for the frames'
    (channels, side) and takes them as floats in [0, 1]."""

    def backbone_dims(self, cfg: RunConfig) -> tuple[int, ...]:
        return cfg.in_channels, cfg.image_size

    def to_input(self, rows: torch.Tensor) -> torch.Tensor:
        return to_unit(rows)

