"""A first check of the video methods (issue 25) on moving-digits: pretrain one method for a number
of optimizer steps (batch 64), then linear and kNN probes of both labels (digit, direction) beside
the random-init floor, balanced accuracy, and the pretext accuracy of the last epoch; appends one
JSON line to benchmarks/results/video_check.jsonl.

    python benchmarks/video_check.py arrow_of_time 400 0
    python benchmarks/video_check.py clip_order 400 0

Not B4, which asks for 10 CPU minutes per method, 3 seeds, a from-scratch and a pixel-PCA
baseline: a first reading of the first slice.
"""

import csv
import json
import sys
import time
from pathlib import Path

import ssrl

RESULTS = Path(__file__).parent / "results" / "video_check.jsonl"


def main() -> None:
    method, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start = time.time()
    run = ssrl.pretrain("moving-digits", method, out=f"runs/video_check/{method}-{steps}-s{seed}", max_steps=steps,
                        batch_size=64, seed=seed, progress=False)
    out = {"method": method, "steps": steps, "seed": seed, "seconds": round(time.time() - start)}
    for label in ("digit", "direction"):
        for protocol in ("linear", "knn"):
            r = ssrl.evaluate(run, "moving-digits", protocol, label_column=label, save=False, seed=seed)
            out[f"{label}_{protocol}"] = (round(r["balanced_top1"], 3), round(r["random_init_balanced_top1"], 3))
    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r.get("pretext_acc_epoch")]
    out["pretext_acc_last_epoch"] = float(rows[-1]["pretext_acc_epoch"]) if rows else None
    print(json.dumps(out))
    with open(RESULTS, "a") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
