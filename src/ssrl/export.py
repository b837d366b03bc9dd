"""``ssrl export``: a run's backbone h_θ in a file that loads without ssrl where possible.

Formats (image backbones map (B, C, H, W) float32 in [0, 1], text backbones (B, T) int64 token
ids, to (B, dim) features, any B; ``PATH.json`` beside each file says which):

- ``torchvision``: for a torchvision ResNet backbone, its state dict (``.pth``), which loads
  into ``torchvision.models.resnetNN()`` once ``fc`` is ``Identity`` and, for small images or
  other than 3 channels, the stem is changed as ``ssrl.backbones.resnet.adapt_stem`` does (the
  JSON gives the lines). Every other backbone (convnet-small, ViT, split-brain's pair, text
  Transformers) has no torchvision class, so it is saved as a ``torch.export`` program
  (``.pt2``): ``torch.export.load(path).module()`` runs it with plain torch.
- ``safetensors``: the weights, with a header (safetensors metadata) holding what rebuilds the
  module (``RUN/backbone.json``: backbone name and input sizes, feature size); rebuilding a
  non-ResNet backbone from it needs ssrl (``ssrl.backbones.build_backbone``).
- ``onnx``: ``torch.onnx.export`` (its torch.export-based exporter, which needs ``onnxscript``)
  with a dynamic batch axis (and token axis for text); runs in onnxruntime without torch.

A text run's tokenizer (``RUN/tokenizer.json``, Hugging Face ``tokenizers``) is copied beside the
exported file, since the ids mean nothing without it.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models import ResNet

from ssrl.backbones.resnet import SMALL_IMAGE_MAX
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.runs import load_backbone, run_config

FORMATS = ("torchvision", "safetensors", "onnx")


def export(run: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write the run's backbone in format ``fmt`` to ``out`` (default ``RUN/export/backbone.EXT``);
    returns the path written. ``PATH.json`` beside it says what the file holds and how to load it."""
    if fmt not in FORMATS:
        raise SsrlError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    run = Path(run)
    cfg = run_config(run)
    backbone = load_backbone(run)
    text = cfg.modality == "text"
    spec = {**json.loads((run / "backbone.json").read_text()), "method": cfg.method,
            "output": "float32 (B, dim) features", "format": fmt}
    is_resnet = isinstance(backbone, ResNet)
    ext = {"torchvision": ".pth" if is_resnet else ".pt2", "safetensors": ".safetensors", "onnx": ".onnx"}[fmt]
    path = Path(out) if out is not None else run / "export" / f"backbone{ext}"
    if path.suffix != ext:
        raise SsrlError(f"{path}: the {fmt} export of a {cfg.backbone} backbone is a {ext} file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchvision" and is_resnet:
        spec["load"] = _resnet_recipe(cfg.backbone, cfg.in_channels, cfg.image_size)
        torch.save(_state(backbone), path)
    elif fmt == "torchvision":
        spec["load"] = "torch.export.load(path).module()"
        torch.export.save(_program(backbone, cfg), path)
    elif fmt == "safetensors":
        sizes = "vocab_size, max_tokens" if text else "in_channels, image_size"
        spec["load"] = (_resnet_recipe(cfg.backbone, cfg.in_channels, cfg.image_size) if is_resnet else
                        f"ssrl.backbones.build_backbone(backbone, {sizes}).load_state_dict(...)")
        save_file(_state(backbone), path, metadata={k: str(v) for k, v in spec.items()})
    else:
        spec["load"] = f"onnxruntime.InferenceSession(path); input '{'ids' if text else 'images'}', output 'features'"
        _onnx(backbone, cfg, path)
    if text:
        spec["tokenizer"] = shutil.copyfile(run / "tokenizer.json", path.with_name(path.name + ".tokenizer.json")).name
    path.with_name(path.name + ".json").write_text(json.dumps(spec, indent=2) + "\n")
    return path


def _state(backbone: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}


def _resnet_recipe(name: str, in_channels: int, image_size: int) -> str:
    """The plain-torchvision lines that build a module this state dict loads into."""
    if image_size <= SMALL_IMAGE_MAX:
        stem = (f"net.conv1 = nn.Conv2d({in_channels}, 64, 3, 1, 1, bias=False); "
                "net.maxpool = nn.Identity(); ")
    elif in_channels != 3:
        stem = f"net.conv1 = nn.Conv2d({in_channels}, 64, 7, 2, 3, bias=False); "
    else:
        stem = ""
    return (f"net = torchvision.models.{name}(); {stem}net.fc = nn.Identity(); "
            "net.load_state_dict(torch.load(path, weights_only=True))")


class PooledTokens(nn.Module):
    """A text backbone's features without the padding trim of its ``forward`` (a shape that
    depends on the data, which torch.export cannot trace). Padded positions are never attended
    to nor pooled, so the features are the same; only the cost of the padding remains."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.pooled(self.backbone.tokens(ids), ids)


def _program(backbone: nn.Module, cfg: RunConfig) -> torch.export.ExportedProgram:
    """The backbone traced on an example input, with the batch (and, for text, the length) dynamic."""
    batch = torch.export.Dim("batch", min=1)
    if cfg.modality == "text":
        module = PooledTokens(backbone) if hasattr(backbone, "pooled") else backbone  # word2vec's table: as it is
        example = torch.randint(1, cfg.vocab_size, (2, cfg.max_tokens), generator=torch.Generator().manual_seed(0))
        example[1, cfg.max_tokens // 2:] = 0  # padding after the end, as the tokenizer writes it
        dims = {0: batch, 1: torch.export.Dim("tokens", min=2, max=cfg.max_tokens)}
    else:
        module, example, dims = backbone, torch.rand(2, cfg.in_channels, cfg.image_size, cfg.image_size), {0: batch}
    try:
        return torch.export.export(module, (example,), dynamic_shapes=(dims,))
    except Exception as e:  # noqa: BLE001  (torch.export raises many types; the user needs the gist)
        raise SsrlError(f"torch.export cannot trace the {cfg.backbone} backbone: {str(e).splitlines()[0]}") from e


def _onnx(backbone: nn.Module, cfg: RunConfig, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401  (torch's exporter imports it lazily; fail early with a clear message)
    except ImportError as e:
        raise SsrlError("--format onnx needs the onnx and onnxscript packages: pip install onnx onnxscript") from e
    program = _program(backbone, cfg)
    torch.onnx.export(program, program.example_inputs[0], path, input_names=["ids" if cfg.modality == "text" else "images"],
                      output_names=["features"], external_data=False, verbose=False)
