"""Frozen features h_θ(x) of a whole data set, computed once and reused by every protocol.

``as_input`` is the one place where stored rows become a backbone's input: every protocol
(frozen features, fine-tuning, training from scratch) goes through it.

Extraction is inference only, so it runs on a copy of the backbone made for that (extraction
dominates an evaluation's time: BENCHMARKS.md, issue 21): under ``torch.inference_mode``,
under the run's autocast (``ssrl.precision.autocast_for``: bfloat16 for a ``bf16-mixed`` run,
none for ``32-true``), in the run's memory format (channels_last for CNNs, as they trained),
with each eval-mode batch norm folded into the convolution before it (one pass over every
activation fewer; exact up to float rounding) and 2 × 2 max-pools computed without indices,
and on a CPU in batches of about two million pixels. The features come back float32 whatever
the autocast, so kNN and the linear probe always compute in float32. Images that stay encoded
(a streamed folder or shards) are decoded batch by batch in DataLoader workers while the
backbone runs.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import fx, nn
from torch.fx.experimental.optimization import fuse
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ssrl.data.encoded import BatchRows, decode_workers
from ssrl.data.source import to_unit
from ssrl.data.tokenize import token_lengths
from ssrl.errors import DataError
from ssrl.evaluation import feature_cache
from ssrl.evaluation.inference_graph import fast_pooling
from ssrl.notices import interactive
from ssrl.precision import autocast_for

BATCH_PIXELS = 2 ** 21  # CPU: 2,674 images at 28 px, 41 at 224 px (the size measured: BENCHMARKS.md, issue 21)
BATCH = 512             # token ids, and anything on a GPU


@dataclass(frozen=True)
class Extraction:
    """How a run's features are computed: the pretrained and the random-init backbone alike."""

    precision: str = "32-true"   # the run's resolved precision: the autocast it evaluates under
    channels_last: bool = False  # NHWC images, as the run trained (``RunConfig.channels_last``)
    cache: Path | None = None    # a folder keeping features between calls (``feature_cache``), or None


FLOAT32 = Extraction()  # no autocast, the default memory format


def as_input(batch: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """Stored rows as the backbone's input on ``device``: uint8 images (B, C, H, W) become float32
    in [0, 1]; anything else (token ids (B, T), float features) passes through unchanged."""
    batch = batch.to(device) if device is not None else batch
    if batch.dtype == torch.uint8:
        return to_unit(batch)
    return batch


def extract_features(backbone: nn.Module, rows: torch.Tensor, batch_size: int | None = None,
                     device: str | torch.device | None = None, progress: bool | str = False,
                     how: Extraction = FLOAT32) -> torch.Tensor:
    """Features (N, dim) float32 on the CPU of stored rows (uint8 images (N, C, H, W), or token
    ids), in eval mode (BN running statistics, no augmentation), computed as ``how`` says by
    ``for_inference(backbone)``. The backbone's train/eval mode is restored after.
    ``batch_size``: by default ``default_batch_size``. ``progress``: a bar in a terminal, labelled
    by the string if one is given. With ``how.cache``, features computed before
    for the same backbone, rows and ``how`` are read back instead (``ssrl.evaluation.feature_cache``)."""
    key = None
    if how.cache is not None and isinstance(rows, torch.Tensor):
        key = feature_cache.fingerprint(backbone, rows, how.precision, how.channels_last)
        kept = feature_cache.load(how.cache, key, len(rows))
        if kept is not None:
            return kept
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    was_training = backbone.training
    net = for_inference(backbone, device, how.channels_last)
    memory_format = torch.channels_last if how.channels_last and rows.dim() == 4 else torch.contiguous_format
    order = length_order(rows)
    chunks = order.split(batch_size or default_batch_size(rows, device))
    out = []
    with torch.inference_mode(), autocast_for(device, how.precision):
        for batch in tqdm(_batches(rows, chunks), total=len(chunks),
                          desc=progress if isinstance(progress, str) else "features",
                          disable=not (progress and interactive()), leave=False):
            x = as_input(batch, device).contiguous(memory_format=memory_format)
            out.append(net(x).float().cpu())
    backbone.train(was_training)
    features = torch.cat(out)[torch.argsort(order)]  # outside inference mode: an ordinary tensor
    if key is not None:
        feature_cache.store(how.cache, key, features)
    return features


def _batches(rows, chunks: tuple[torch.Tensor, ...]):
    """The rows of each chunk: indexed here from a tensor; decoded by DataLoader workers from
    images that stay encoded (``ssrl.data.encoded``), while the backbone runs."""
    if isinstance(rows, torch.Tensor):
        yield from (rows[chunk] for chunk in chunks)
        return
    for batch, _, _ in DataLoader(BatchRows(rows), sampler=chunks, batch_size=None, num_workers=decode_workers()):
        if isinstance(batch, DataError):
            raise batch
        yield batch


def for_inference(backbone: nn.Module, device: torch.device, channels_last: bool = False) -> nn.Module:
    """The module that extracts features: an eval-mode copy of ``backbone`` on ``device`` with
    each batch norm that follows a convolution or linear layer folded into it (``torch.fx``'s
    ``fuse``; a backbone it cannot trace stays unfolded), its 2 × 2 max-pools made cheaper
    (``ssrl.evaluation.inference_graph``), NHWC if asked. A backbone with hooks is
    not copied, since its hooks may close over the original (the training engine's NHWC hook
    does not, a benchmark's feature taps do): it extracts itself, in eval mode, on ``device``."""
    if any(m._forward_hooks or m._forward_pre_hooks for m in backbone.modules()):
        return backbone.eval().to(device)
    net = copy.deepcopy(backbone).to(device).eval()
    rewritable = any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.MaxPool2d)) for m in net.modules())
    traced = traced_or_none(net) if rewritable else None
    if traced is not None:
        net = fast_pooling(fuse(traced, inplace=True, no_trace=True))
    return net.to(memory_format=torch.channels_last) if channels_last else net


def traced_or_none(net: nn.Module) -> fx.GraphModule | None:
    """``net`` traced by ``torch.fx``, or None where its forward branches on its input (tracing
    then fails in many ways: TraceError, TypeError, ...)."""
    try:
        return fx.symbolic_trace(net)
    except Exception:  # noqa: BLE001  (folding only saves time: the caller extracts unfolded)
        return None


def default_batch_size(rows: torch.Tensor, device: torch.device) -> int:
    """Rows per batch: on a CPU, images (N, C, H, W) or videos (N, T, C, H, W) about
    ``BATCH_PIXELS`` pixels at a time (the activations of one batch stay a similar size at any
    image size and clip length); ``BATCH`` otherwise."""
    if device.type == "cpu" and rows.dim() in (4, 5):
        frames = rows.shape[1] if rows.dim() == 5 else 1
        return max(1, BATCH_PIXELS // (frames * rows.shape[-2] * rows.shape[-1]))
    return BATCH


def length_order(rows: torch.Tensor) -> torch.Tensor:
    """The order in which to batch stored rows: token ids (N, T), padded at the end, by
    length, so that each batch is cut to its own longest document (a text backbone drops
    all-padding columns) rather than mostly padding; anything else in storage order."""
    lengths = token_lengths(rows)
    return torch.arange(len(rows)) if lengths is None else torch.argsort(lengths, stable=True)
