"""Evaluate saved runs again under the current probe protocol, without retraining them.

Issue 23 changed the probes (the linear probe standardises features instead of L2-normalising
them; kNN centres them and adapts k to the bank). The backbones behind BENCHMARKS.md's rows are
still in their run directories, so the new figures come from the very same weights:

    python benchmarks/reprobe.py /tmp/runs/b1r/simclr-3ep_issue19 /tmp/runs/b1r/rotation-3ep_issue19 \\
        --data fashion-mnist --tag _b1

Each run is evaluated with kNN and the linear probe through ``ssrl.api.evaluate`` (nothing is
saved into the run), beside its random-init floor; the figures (top-1, balanced accuracy, kNN's
k, anisotropy, effective rank, the verdict) go to ``benchmarks/results/reprobe{TAG}.json``.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import PROBE, save  # noqa: E402

from ssrl.api import evaluate  # noqa: E402
from ssrl.runs import run_config  # noqa: E402

KEYS = ("top1", "random_init_top1", "balanced_top1", "random_init_balanced_top1", "k", "anisotropy",
        "random_init_anisotropy", "effective_rank", "random_init_effective_rank", "verdict")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", required=True, help="labeled data (with its test split)")
    parser.add_argument("--protocols", default="knn,linear")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        cfg = run_config(run)
        row = {"run": str(run), "method": cfg.method, "epochs": cfg.epochs, "backbone": cfg.backbone}
        for protocol in args.protocols.split(","):
            start = time.perf_counter()
            result = evaluate(run, args.data, protocol, save=False)
            row[protocol] = {key: result[key] for key in KEYS if key in result}
            row[protocol]["eval_s"] = round(time.perf_counter() - start, 1)
            print(f"{run.name} {protocol}: {row[protocol]}", flush=True)
        rows.append(row)
    save(f"reprobe{args.tag}", {"data": args.data, "probe": PROBE, "rows": rows})


if __name__ == "__main__":
    main()
