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
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn
from torchvision.models import ResNet

from ssrl.backbones.library import is_library_name
from ssrl.backbones.resnet import SMALL_IMAGE_MAX
from ssrl.config import RunConfig
from ssrl.errors import SsrlError
from ssrl.files import read_text, save_atomic, write_atomic
from ssrl.modality import get_modality
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
    modality = get_modality(cfg.modality)
    spec = {**_backbone_spec(run), "method": cfg.method,
            "output": "float32 (B, dim) features", "format": fmt}
    is_resnet = isinstance(backbone, ResNet) and not is_library_name(cfg.backbone)  # ssrl's own ResNets
    ext = {"torchvision": ".pth" if is_resnet else ".pt2", "safetensors": ".safetensors", "onnx": ".onnx"}[fmt]
    path = Path(out) if out is not None else run / "export" / f"backbone{ext}"
    if path.suffix != ext:
        raise SsrlError(f"{path}: the {fmt} export of a {cfg.backbone} backbone is a {ext} file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchvision" and is_resnet:
        spec["load"] = _resnet_recipe(cfg.backbone, cfg.in_channels, cfg.image_size)
        save_atomic(path, lambda f: torch.save(_state(backbone), f))
    elif fmt == "torchvision":
        spec["load"] = "torch.export.load(path).module()"
        save_atomic(path, lambda f: torch.export.save(_program(backbone, cfg), f))
    elif fmt == "safetensors":
        sizes = ", ".join(str(d) for d in modality.backbone_dims(cfg))
        spec["load"] = (_resnet_recipe(cfg.backbone, cfg.in_channels, cfg.image_size) if is_resnet else
                        f"ssrl.backbones.build_backbone({cfg.backbone!r}, {sizes}).load_state_dict(...)")
        write_atomic(path, save(_state(backbone), metadata={k: str(v) for k, v in spec.items()}))
    else:
        spec["load"] = f"onnxruntime.InferenceSession(path); input '{modality.input_name}', output 'features'"
        _onnx(backbone, cfg, path)
    for name in modality.run_files:  # a text export's tokenizer: backbone.onnx.tokenizer.json
        copy = path.with_name(f"{path.name}.{name}")
        spec[Path(name).stem] = write_atomic(copy, (run / name).read_bytes()).name
    write_atomic(path.with_name(path.name + ".json"), json.dumps(spec, indent=2) + "\n")
    return path


def _backbone_spec(run: Path) -> dict:
    path = run / "backbone.json"
    try:
        spec = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise SsrlError(f"{path}, line {e.lineno}: not valid JSON ({e.msg})") from e
    if not isinstance(spec, dict):
        raise SsrlError(f"{path}: not a backbone description (a JSON object)")
    return spec


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


def _program(backbone: nn.Module, cfg: RunConfig) -> torch.export.ExportedProgram:
    """The backbone traced on its modality's example input, with the batch (and, for text, the
    length) dynamic."""
    module, example, dims = get_modality(cfg.modality).traceable(cfg, backbone)
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
    torch.onnx.export(program, program.example_inputs[0], path, input_names=[get_modality(cfg.modality).input_name],
                      output_names=["features"], external_data=False, verbose=False)
