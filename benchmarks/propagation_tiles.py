"""Label propagation's cost against its tile side (``ssrl.evaluation.propagation.TILE``), beside the
dense computation (every target position against every context position, tile = the whole map).

B5's shape: 8 frames of a 32-channel 64 × 64 map (convnet-small's stride-1 map of 64-px frames),
the protocol's radius (0.2 of 64 cells), 20 context frames, 3 labels; random features (the cost
does not depend on them). Each setting runs twice, in turn; one torch thread.

    python benchmarks/propagation_tiles.py [--tiles 8,16,24,64]

Result: ``benchmarks/results/propagation_tiles.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine  # noqa: E402

from ssrl.evaluation import propagation  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiles", default="8,16,24,64", help="tile sides; 64 (the whole map) is the dense computation")
    p.add_argument("--frames", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    features = torch.randn(args.frames, 32, 64, 64, generator=g)
    first = torch.softmax(torch.randn(3, 64, 64, generator=g), 0)
    tiles = [int(t) for t in args.tiles.split(",")]
    seconds: dict[int, list[float]] = {t: [] for t in tiles}
    outputs = {}
    for _ in range(2):
        for tile in tiles:
            propagation.TILE = tile
            start = time.perf_counter()
            outputs[tile] = propagation.propagate(features, first, radius=0.2 * 64)
            seconds[tile].append(round(time.perf_counter() - start, 2))
            print(f"tile {tile}: {seconds[tile][-1]} s", flush=True)
    dense = outputs[max(tiles)]
    result = {"benchmark": "propagation tiles", "frames": args.frames, "map": [32, 64, 64], "radius": 12.8,
              "seconds": {str(t): v for t, v in seconds.items()},
              "max_difference_from_largest_tile": {str(t): float((o - dense).abs().max()) for t, o in outputs.items()},
              "command": " ".join(["python3", *sys.argv]), "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    path = RESULTS / "propagation_tiles.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
