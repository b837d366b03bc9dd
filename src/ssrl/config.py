"""Run configuration: one frozen dataclass, written to the run directory as ``config.yaml``.

A ``RunConfig`` as given leaves fields at None where the data or the method decide them;
``ssrl.resolve.resolve`` returns a new one with every field decided (the modality and image size
read from the data, the batch size and epochs chosen for its size, the method's backbone,
optimizer, parameters and views), and that is what the file holds: a run directory says exactly
what ran, and ``--resume`` or ``ssrl evaluate`` rebuild everything from it. Nothing changes a
``RunConfig`` in place.
"""

import numbers
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path

import yaml

from ssrl.errors import SsrlError
from ssrl.files import read_text, write_atomic
from ssrl.ranges import check_count, check_number


INITS = ("random", "pretrained")
UNTIL_BUDGET = 1_000_000  # the epochs of a run given a --budget and no --epochs: the budget ends it


def until_budget(epochs: int | None, budget: str | None) -> bool:
    """Whether a run's length is its wall-clock budget rather than its epochs."""
    return budget is not None and epochs is not None and epochs >= UNTIL_BUDGET


@dataclass(frozen=True)
class RunConfig:
    data: str                              # D_s: a path or a data-set name
    method: str | None = None              # None = its modality's default method (simclr, word2vec for text)
    backbone: str | None = None            # None = the method's default, else its modality's
    init: str = "random"                   # h_θ's starting weights: random | pretrained (a library backbone's
                                           # published weights, ssrl.backbones.library); the floor it is compared with
    epochs: int | None = None              # None = chosen from the data and the method (ssrl.resolve.choose_epochs)
    batch_size: int | None = None          # source rows per step, summed over processes; None = chosen
                                           # from the number of rows (ssrl.resolve.choose_batch_size)
    optimizer: str | None = None           # None = the method's own default
    lr: float | None = None                # None = the method's default × batch_size / 256
    weight_decay: float | None = None
    warmup_epochs: float | None = None
    seed: int = 0                          # init, data order and views all follow from it
    image_size: int | None = None          # None = the data's own size
    in_channels: int | None = None         # read from the data
    clip_frames: int | None = None         # videos: frames per clip (None: 16 for video folders, arrays as stored)
    frame_stride: int | None = None        # videos: frames between a clip's frames (None: 1)
    params: dict = field(default_factory=dict)  # method hyperparameters (its Config fields; resolved: all)
    views: dict = field(default_factory=dict)   # overrides of the method's default views (resolved: all)
    accelerator: str = "auto"              # auto | cpu | gpu
    devices: int = 1
    nodes: int = 1
    precision: str = "auto"                # auto | Lightning's 32-true | bf16-mixed | 16-mixed (ssrl.precision;
                                           # resolved: the one chosen)
    compile: bool | None = None            # torch.compile h_θ and k_γ (None: on for long runs of checked
                                           # methods, ssrl.compiled; resolved: the one chosen)
    channels_last: bool | None = None      # NHWC activations for CNNs (None: the modality's choice; see BENCHMARKS.md)
    skip_bad: bool = False                 # skip unreadable files instead of stopping
    stream: bool | None = None             # image folders and shards: decode while training (True) or all
                                           # into memory first (False); None = stream when that would exceed memory_budget
    memory_budget: str | None = None       # decoded images held in memory at most ("8GB"); None = a quarter of RAM
    decode_on_device: bool = False         # streamed JPEGs: decoded on the training device (nvJPEG on CUDA)
    limit: int | None = None               # use only the first N source images
    monitor: str | None = None             # labeled data for the online kNN monitor
    log_every_n_steps: int | None = None   # None = every 10 steps, or 4 times an epoch on short epochs
    max_steps: int | None = None           # stop (and end the lr schedule) after this many steps
    loggers: list = field(default_factory=list)  # tensorboard, wandb, mlflow beside metrics.csv (ssrl.run_files)
    checkpoint_every: int | None = None    # also write checkpoints/last.ckpt every N steps (None: epoch ends only)
    workers: int | None = None             # DataLoader worker processes (None: 0 for rows in memory, all cores
                                           # but one for images decoded while training)
    budget: str | None = None              # wall-clock limit of training ("90s", "10m", "1h30m"); the lr and
                                           # momentum schedules end with it or with `epochs`, whichever comes first
    modality: str | None = None            # image | text | a registered one; None = read from the data
    text_column: str | None = None         # text data: the column holding the documents
    documents: str = "line"                # plain text: one document per line | per paragraph
    tokenizer: str | None = None           # text: bpe | wordpiece | word, trained on D_s (None: the method's, else bpe)
    vocab_size: int = 8000                 # text: tokenizer entries asked for (resolved: trained)
    max_tokens: int = 64                   # text: ids per document, [CLS] and [SEP] included

    def __post_init__(self):
        check_run_options(self)  # refuse an option that cannot work before anything runs

    def to_yaml(self, path: Path) -> None:
        write_atomic(path, yaml.safe_dump(asdict(self), sort_keys=False))  # a resuming process never reads half

    @classmethod
    def from_yaml(cls, path: Path) -> "RunConfig":
        try:
            values = yaml.safe_load(read_text(path))
        except (OSError, yaml.YAMLError) as e:
            raise SsrlError(f"{path}: cannot read run configuration ({e})") from e
        known = {f.name for f in fields(cls)}
        unknown = set(values or {}) - known
        if not isinstance(values, dict) or "data" not in values or unknown:
            raise SsrlError(f"{path}: not an ssrl run configuration (unknown keys: {sorted(unknown)})")
        return cls(**values)


COUNTS = ("epochs", "batch_size", "limit", "max_steps", "devices", "nodes", "log_every_n_steps",
          "checkpoint_every", "clip_frames", "frame_stride")  # ≥ 1
SMALLEST_IMAGE = 2  # pixels a side: a 1×1 image has nothing to crop, rotate or mask


def check_run_options(cfg: RunConfig) -> None:
    """Refuse an option outside its range, naming it and the range (``ssrl.ranges``): the counts
    (``COUNTS``) at least 1, the workers at least 0, the image size at least ``SMALLEST_IMAGE``,
    the learning rate finite and above 0, weight decay and warm-up finite and at least 0, the
    budget a duration above 0."""
    for name in COUNTS:
        check_count(getattr(cfg, name), _flag(name))
    check_count(cfg.workers, "--workers", low=0)
    n = cfg.image_size  # given, or read from the data (``resolve`` replaces it): name both
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < SMALLEST_IMAGE):
        raise SsrlError(f"{cfg.data}: image size {n}×{n} is too small; images must be at least "
                        f"{SMALLEST_IMAGE}×{SMALLEST_IMAGE} pixels (--image-size N resizes them)")
    check_number(cfg.lr, "--lr", strictly=True)
    check_number(cfg.weight_decay, "--weight-decay", strictly=False)
    check_number(cfg.warmup_epochs, "--warmup-epochs", strictly=False)
    if cfg.budget is not None:
        parse_budget(cfg.budget)
    if cfg.memory_budget is not None:
        parse_bytes(cfg.memory_budget)
    if cfg.init not in INITS:
        raise SsrlError(f"--init {cfg.init!r}: choose {' or '.join(INITS)}")
    if cfg.init == "pretrained" and cfg.backbone is not None and not cfg.backbone.startswith(("timm:", "torchvision:")):
        raise SsrlError(f"--init pretrained: backbone {cfg.backbone} has no published weights; use a library "
                        "backbone (--backbone timm:NAME or torchvision:NAME), or --init random")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def override(base, values: dict, what: str):
    """A copy of dataclass instance ``base`` with ``values`` applied; command-line strings are
    parsed as the type of the field they replace (``parse_value``). An unknown key or a bad value
    is an ``SsrlError`` naming ``what`` (for example "method 'simclr'", "views")."""
    known = {f.name for f in fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SsrlError(f"{what} has no parameter {unknown[0]!r}; it has: {', '.join(sorted(known)) or 'none'}")
    parsed = {}
    for key, value in values.items():
        try:
            parsed[key] = parse_value(value, getattr(base, key)) if isinstance(value, str) else value
        except ValueError as e:
            raise SsrlError(f"{what}: bad value for {key}: {value!r} ({e})") from e
    return replace(base, **parsed)


def parse_value(text: str, default):
    """A command-line string (``--param``/``--view`` values) as the type of the field's default:
    ``true``/``false`` for booleans, ``0.2,1.0`` for tuples, a number where the default is None."""
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(default, tuple):
        return tuple(float(v) for v in text.split(","))
    if default is None:
        return float(text) if "." in text else int(text)
    return type(default)(text)


def parse_bytes(text: str) -> int:
    """A memory size such as ``8GB``, ``500MB``, ``1.5TB`` (powers of 1024) or a plain number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not match or float(match[1]) <= 0:
        raise SsrlError(f"--memory-budget {text!r}: expected a size above zero such as 500MB or 8GB")
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2] or " "))


def parse_budget(text: str) -> timedelta:
    """A wall-clock budget as a timedelta: hours, minutes and seconds such as ``90s``, ``10m``,
    ``1h30m``, ``2.5m``, or a plain number of seconds."""
    text = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms]?)", text)
    units = [unit for _, unit in parts]
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", "") or len(set(units)) < len(units):
        raise SsrlError(f"budget {text!r}: expected a duration such as 90s, 10m or 1h30m")
    seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1, "": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise SsrlError(f"budget {text!r}: must be longer than zero")
    return timedelta(seconds=seconds)
