"""``ssrl bench`` on Fashion-MNIST (B1 data): every method gets the same wall-clock budget of
pretraining on the 60,000 training images, then the same evaluation against its random-init floor.

    SSRL_DATA_DIR=/path/to/fashion-mnist OMP_NUM_THREADS=1 \\
        python benchmarks/bench_fashion_mnist.py --methods simclr,rotation,vicreg --budget 4m

Writes benchmarks/results/bench_fashion_mnist_BUDGET_PROTOCOL.json (and the bench directory's
bench.png, copied beside it).
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save  # noqa: E402

from ssrl.bench import bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="simclr,rotation,vicreg")
    parser.add_argument("--budget", default="4m")
    parser.add_argument("--protocol", default="knn", choices=["knn", "linear"])
    parser.add_argument("--epochs", type=int, default=100, help="lr schedule horizon; the budget stops training")
    parser.add_argument("--out", default="/tmp/runs/bench-fashion-mnist")
    args = parser.parse_args()
    start = time.monotonic()
    result = bench("fashion-mnist", args.methods.split(","), args.budget, protocol=args.protocol, out=args.out,
                   epochs=args.epochs)
    result["wall_seconds"] = round(time.monotonic() - start, 1)
    name = f"bench_fashion_mnist_{args.budget}_{args.protocol}"
    RESULTS.mkdir(exist_ok=True)
    shutil.copy(result["plot"], RESULTS / f"{name}.png")
    save(name, result)


if __name__ == "__main__":
    main()
