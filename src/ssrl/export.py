"""``ssrl export``: a run's backbone h_θ in a file that loads without ssrl where possible.

Formats (each maps (B, C, H, W) float32 images in [0, 1] to (B, dim) features, any B):

- ``torchvision``: for a torchvision ResNet backbone, its state dict (``.pth``), which loads
  into ``torchvision.models.resnetNN()`` once ``fc`` is ``Identity`` and, for small images or
  other than 3 channels, the stem is changed as ``ssrl.backbones.resnet.adapt_stem`` does (the
  metadata JSON beside the file says which). Every other backbone (convnet-small, ViT,
  split-brain's pair) has no torchvision class, so it is saved as a ``torch.export`` program
  (``.pt2``): ``torch.export.load(path).module()`` runs it with plain torch.
- ``safetensors``: the weights, with a header (safetensors metadata) holding what rebuilds the
  module: backbone name, input channels, image size, feature size, method; rebuilding a
  non-ResNet backbone from it needs ssrl (``ssrl.backbones.build_backbone``).
- ``onnx``: ``torch.onnx.export`` (its torch.export-based exporter, which needs ``onnxscript``)
  with a dynamic batch axis; runs in onnxruntime with no torch at all.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models import ResNet

from ssrl.backbones.resnet import SMALL_IMAGE_MAX
from ssrl.errors import SsrlError
from ssrl.runs import load_backbone, run_config

FORMATS = ("torchvision", "safetensors", "onnx")


def export(run: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write the run's backbone in format ``fmt`` to ``out`` (default ``RUN/export/backbone.EXT``);
    returns the path written. ``PATH.json`` beside it says what the file holds and how to load it."""
    if fmt not in FORMATS:
        raise SsrlError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    cfg = run_config(run)
    backbone = load_backbone(run)
    example = torch.rand(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    spec = {"backbone": cfg.backbone, "method": cfg.method, "in_channels": cfg.in_channels,
            "image_size": cfg.image_size, "dim": backbone.dim, "input": "float32 (B, C, H, W) in [0, 1]",
            "output": "float32 (B, dim) features", "format": fmt}
    is_resnet = isinstance(backbone, ResNet)
    ext = {"torchvision": ".pth" if is_resnet else ".pt2", "safetensors": ".safetensors", "onnx": ".onnx"}[fmt]
    path = Path(out) if out is not None else Path(run) / "export" / f"backbone{ext}"
    if path.suffix != ext:
        raise SsrlError(f"{path}: the {fmt} export of a {cfg.backbone} backbone is a {ext} file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchvision" and is_resnet:
        spec["load"] = _resnet_recipe(cfg.backbone, cfg.in_channels, cfg.image_size)
        torch.save(_state(backbone), path)
    elif fmt == "torchvision":
        spec["load"] = "torch.export.load(path).module()"
        torch.export.save(_program(backbone, example), path)
    elif fmt == "safetensors":
        spec["load"] = (_resnet_recipe(cfg.backbone, cfg.in_channels, cfg.image_size) if is_resnet else
                        "ssrl.backbones.build_backbone(backbone, in_channels, image_size).load_state_dict(...)")
        save_file(_state(backbone), path, metadata={k: str(v) for k, v in spec.items()})
    else:
        spec["load"] = "onnxruntime.InferenceSession(path); input 'images', output 'features'"
        _onnx(backbone, example, path)
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


def _program(backbone: nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    try:
        return torch.export.export(backbone, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    except Exception as e:  # noqa: BLE001  (torch.export raises many types; the user needs the gist)
        raise SsrlError(f"torch.export cannot trace this backbone: {str(e).splitlines()[0]}") from e


def _onnx(backbone: nn.Module, example: torch.Tensor, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401  (torch's exporter imports it lazily; fail early with a clear message)
    except ImportError as e:
        raise SsrlError("--format onnx needs the onnx and onnxscript packages: pip install onnx onnxscript") from e
    torch.onnx.export(_program(backbone, example), (example,), path, input_names=["images"],
                      output_names=["features"], external_data=False, verbose=False)
