"""The verdict of an evaluation: did pretraining beat the same backbone at random init, and if
not, what this run's own records say about why.

The comparison is on balanced accuracy (mean per-class recall), which on balanced test sets is
top-1 and on unbalanced ones is not fooled by a probe that predicts the largest class. When the
pretrained backbone does not beat its floor, the causes are read from the run, not guessed: the
optimizer steps it trained against the method's ``min_steps`` (the steps its family needed on
small data to beat random init, BENCHMARKS.md B6), the collapse monitor's last readings, the
features' anisotropy, an effective rank far under random init's, classifiers that predicted only a
few classes, and, for a method whose measured gain lies in earlier feature maps
(``gain_at_layers``), the ``--layer`` to read.
"""

from pathlib import Path

from ssrl.collapse import collapse_message
from ssrl.errors import SsrlError
from ssrl.report.metrics import read_metrics, steps_done
from ssrl.runs import run_config

ANISOTROPIC = 0.95  # mean pairwise cosine above which features all point one way
RANK_LOST = 4       # an effective rank this many times under random init's: features of few directions


def verdict(run_dir: str | Path, result: dict, figure: str = "balanced_top1") -> dict:
    """``{"beats_floor": bool, "verdict": str, "causes": [str]}`` for an evaluation ``result``
    holding ``figure`` and its floor (``random_init_`` + figure, or ``scratch_`` + figure)."""
    floor_key = next(p + figure for p in ("random_init_", "scratch_") if p + figure in result)
    ours, floor = result[figure], result[floor_key]
    floor_name = result.get("floor", "random init") if floor_key.startswith("random_init_") else "training from scratch"
    if result.get("protocol") == "finetune" and floor_name == "random init":  # its random init is trained too
        floor_name = "training from scratch"
    label = ("mean " if figure.endswith("_mean") else "") + figure.removesuffix("_mean").replace(
        "balanced_top1", "balanced accuracy").replace("_", " ")
    if ours > floor:
        return {"beats_floor": True, "causes": [],
                "verdict": f"pretraining helped: {label} {ours:.3f} against {floor:.3f} for {floor_name} "
                           f"(+{ours - floor:.3f})"}
    causes = run_causes(Path(run_dir))
    anisotropy = result.get("anisotropy")
    if anisotropy is not None and anisotropy > ANISOTROPIC:
        causes.append(f"the pretrained features all point one way (mean pairwise cosine {anisotropy:.4f})")
    rank, floor_rank = result.get("effective_rank"), result.get("random_init_effective_rank")
    if rank is not None and floor_rank and rank * RANK_LOST < floor_rank:
        causes.append(f"the pretrained features span few directions: effective rank {rank:.1f} against "
                      f"{floor_rank:.1f} at random init, so pretraining kept little for a probe to read "
                      "(its pretext may be solvable from a few features)")
    causes += result.get("warnings", [])
    if "layer" not in result:
        causes += layer_causes(run_dir)
    return {"beats_floor": False, "causes": causes,
            "verdict": f"pretraining did NOT beat {floor_name}: {label} {ours:.3f} against {floor:.3f}"}


def layer_causes(run_dir: str | Path) -> list[str]:
    """Where the run's method put its gain, if measured elsewhere than in the pooled feature."""
    from ssrl.pretext import get_method

    cfg = run_config(run_dir)
    layers = get_method(cfg.method).gain_at_layers
    if not layers:
        return []
    maps = " and ".join(str(n) for n in layers)
    return [f"{cfg.method}'s pooled feature was under random init on Fashion-MNIST too, where its feature "
            f"map{'s' if len(layers) > 1 else ''} {maps} beat random init's (BENCHMARKS.md, per-layer probes): "
            f"read {'them' if len(layers) > 1 else 'it'} with --layer {layers[0]}"]


def run_causes(run_dir: Path) -> list[str]:
    """What the run's records say that may explain a backbone no better than random init."""
    from ssrl.pretext import get_method  # the registry imports every method: only when needed

    cfg = run_config(run_dir)
    try:
        series = read_metrics(run_dir / "metrics.csv")
        steps = steps_done(run_dir / "metrics.csv") or 0
    except SsrlError:
        return []
    causes = []
    need = get_method(cfg.method).min_steps
    if steps < need:
        causes.append(f"it trained {steps} optimizer steps; {cfg.method} needed about {need} on small data to beat "
                      f"random init (BENCHMARKS.md, B6): train longer (--epochs, --max-steps or --budget)")
    std, rank = series.get("embedding_std_epoch"), series.get("effective_rank_epoch")
    ceiling = series.get("rank_ceiling_epoch")
    if std and std.values:
        message = collapse_message(std.values[-1], rank.values[-1] if rank and rank.values else None,
                                   ceiling.values[-1] if ceiling and ceiling.values else None)
        if message:
            causes.append(f"the embeddings collapsed {message}")
    return causes
