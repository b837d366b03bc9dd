"""The run directory: where a pretraining run's configuration, weights and metrics live.

    RUN/config.yaml              the resolved RunConfig (``ssrl.resolve``)
    RUN/metrics.csv              Lightning's CSV log
    RUN/checkpoints/last.ckpt    resumable with --resume (atomic writes)
    RUN/backbone.safetensors     h_θ weights (a torchvision state dict for ResNets)
    RUN/backbone.json            what rebuilds h_θ: backbone name, channels, image size, dim
    RUN/tokenizer.json           text runs: the tokenizer trained on D_s

Weights are read through safetensors only: a run directory handed to us is untrusted.
"""

import json
from pathlib import Path

from safetensors.torch import load_file, save
from torch import nn

from ssrl.backbones import build_backbone
from ssrl.config import RunConfig
from ssrl.errors import DivergedError, SsrlError
from ssrl.finite import non_finite
from ssrl.files import write_atomic
from ssrl.modality import get_modality
from ssrl.seeding import seeded


def run_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise SsrlError(f"{run_dir}: not a run directory (no config.yaml)")
    return RunConfig.from_yaml(path)


def init_backbone(cfg: RunConfig) -> nn.Module:
    """The run's backbone h_θ at its start: its random initialization (a function of the seed alone)
    or, with ``init: pretrained``, the library's published weights; as its method trains and exports
    it (``Pretext.wrap_backbone``: split-brain's two halves). Evaluation compares with it."""
    from ssrl.pretext import get_method  # the registry imports every method: only when needed

    backbone = build_backbone(cfg.backbone, *get_modality(cfg.modality).backbone_dims(cfg), seed=cfg.seed,
                              pretrained=cfg.init == "pretrained")
    with seeded(cfg.seed):
        return get_method(cfg.method).wrap_backbone(backbone)


def save_backbone(backbone: nn.Module, cfg: RunConfig, run_dir: Path) -> None:
    """Write h_θ's weights and ``backbone.json``; weights holding inf or NaN are refused (a
    diverged run must not leave a backbone every later command would take for a trained one)."""
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    bad = non_finite(state)
    if bad:
        raise DivergedError(f"{run_dir}: not saving backbone.safetensors: {len(bad)} of the backbone's "
                            f"{len(state)} tensors hold inf or NaN ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); "
                            "training diverged: try a smaller --lr, or --precision 32-true")
    write_atomic(run_dir / "backbone.safetensors", save(state))
    spec = get_modality(cfg.modality).backbone_spec(cfg, backbone)
    write_atomic(run_dir / "backbone.json", json.dumps(spec, indent=2) + "\n")


def load_backbone(run_dir: str | Path) -> nn.Module:
    """The pretrained backbone h_θ of a finished run, in eval mode."""
    run_dir = Path(run_dir)
    weights = run_dir / "backbone.safetensors"
    if not weights.is_file():
        raise SsrlError(f"{run_dir}: no backbone.safetensors (the run has not finished; resume it with --resume)")
    backbone = init_backbone(run_config(run_dir))
    try:
        state = load_file(weights)
        backbone.load_state_dict(state)
    except Exception as e:  # safetensors or shape errors: name the file, not the internals
        raise SsrlError(f"{weights}: cannot load backbone weights ({e})") from e
    bad = non_finite(state)
    if bad:  # saved before the divergence guard: its features would be NaN
        raise DivergedError(f"{weights}: {len(bad)} of {len(state)} tensors hold inf or NaN; the run diverged "
                            "(pretrain again with a smaller --lr)")
    return backbone.eval()
