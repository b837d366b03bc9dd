"""Held-out error of trained super-resolution runs against bilinear upsampling, on a labeled
data set's test split (the B1 runs' Fashion-MNIST test images, which pretraining never saw).

    python benchmarks/super_resolution_heldout.py /tmp/runs/b1/super_resolution-3ep \
        /tmp/runs/b1/super_resolution-3ep_skip --data fashion-mnist

Each run's h_θ and k_γ come from its last.ckpt (``colour_tasks.trained_method``); the errors are
``colour_tasks.super_resolution_errors``': pixel MSE in [0, 1] and PSNR, the model's and
bilinear upsampling's of the same low-resolution images. Prints them and writes
benchmarks/results/super_resolution_heldout_NAME.json (NAME: the data set's).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from colour_tasks import super_resolution_errors, trained_method  # noqa: E402
from common import save  # noqa: E402

from ssrl.data import load_labeled  # noqa: E402
from ssrl.runs import run_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="super_resolution run directories")
    parser.add_argument("--data", default="fashion-mnist", help="a labeled data set; its test split is used")
    args = parser.parse_args()

    _, test, split = load_labeled(args.data)
    results = {}
    for run in args.runs:
        if run_config(run).method != "super_resolution":
            sys.exit(f"{run}: a {run_config(run).method} run, not super_resolution")
        errors = super_resolution_errors(trained_method(run), test.images)
        results[run.name] = {"params": run_config(run).params, **errors}
        print(run.name, errors, flush=True)
    save(f"super_resolution_heldout_{Path(args.data).name}", {
        "benchmark": "held-out super-resolution error vs bilinear upsampling", "data": args.data, "split": split,
        "n_heldout": len(test.images), "results": results})


if __name__ == "__main__":
    main()
