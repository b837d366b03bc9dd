"""What every benchmark records beside its figures: command, machine, versions, date."""

import datetime
import json
import os
import platform
import resource
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__}


PROBE = "v2 (issue 23): linear probe on standardised features; kNN centred on the bank's mean, k adapted"


def flat_scores(scores: dict) -> dict:
    """``ssrl.api.score``'s figures as the flat record the benchmarks save: each protocol's
    top-1 under its name (``knn``, ``linear``), its balanced accuracy as ``NAME_balanced``, kNN's
    k, the test features' anisotropy and effective rank, and the probe protocol that made them."""
    out = {"probe": PROBE}
    for protocol, figures in scores.items():
        if protocol == "features":
            out.update(figures)
        else:
            out[protocol], out[f"{protocol}_balanced"] = figures["top1"], figures["balanced_top1"]
            if "k" in figures:
                out["knn_k"] = figures["k"]
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pretrain_progress(run: Path) -> dict:
    """The optimizer steps a run made, its last epoch's pretext accuracy (None if it logs none) and
    the precision it trained in (``auto`` resolved), from its metrics.csv and configuration."""
    from ssrl.report.metrics import read_metrics, steps_done
    from ssrl.runs import run_config

    accuracy = read_metrics(Path(run) / "metrics.csv").get("pretext_acc_epoch")
    return {"steps": steps_done(Path(run) / "metrics.csv"),
            "pretext_acc_last_epoch": accuracy.values[-1] if accuracy else None, "precision": run_config(run).precision}


def save(name: str, result: dict) -> Path:
    """Add the context fields, print the JSON and write it to benchmarks/results/NAME.json."""
    result = {**result, "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(),
              "date": datetime.date.today().isoformat()}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path
