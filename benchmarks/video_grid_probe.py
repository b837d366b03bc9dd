"""B4 diagnostic (issue 25): do B4's probes read more where each frame's map keeps *where*?

B4's probes read each frame's globally pooled h_θ (the digit: the frames' mean; the direction:
their mean beside their trend over time). A global pool forgets where the digit is, so a
direction gain over random init there can come from a feature that encodes position in its
channels. This reads instead every frame's last map average-pooled to ``--grid`` × ``--grid``
(``ssrl.backbones.frames.per_frame_grid``), then the same mean (digit) or mean and trend
(direction), for a B4 run and its random init alike, and scores both with the library's frozen
probes (kNN and the standardised linear probe; top-1 on B4's 359 held-out videos). ``--order``
reads the direction instead from the frames' features concatenated in time order, which keep what
the first frames show (the label is the direction of the first step; a bounce reverses it later).

    python benchmarks/video_grid_probe.py RUN --grids 4 --labels direction --name shuffle_and_learn-s0
    python benchmarks/video_grid_probe.py RUN --grids 1,2 --labels direction --order --name shuffle_and_learn-s0-order

Result: ``benchmarks/results/video_grid_probe_NAME.json``, written after every figure.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import PROBE, save  # noqa: E402
from video_b4 import split_data  # noqa: E402

from ssrl.backbones.frames import over_time, per_frame_grid  # noqa: E402
from ssrl.evaluation import extract_features  # noqa: E402
from ssrl.evaluation.protocols import frozen_scores  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402

KEYS = {"digit": "y", "direction": "direction"}  # each label's arrays in the split file
POOL = {"digit": "mean", "direction": "trend"}  # how each label is read over time (--order: direction in order)


class GridPooled(nn.Module):
    """Videos (B, T, C, H, W) -> every frame's last map on a grid, then ``over_time`` as ``pool`` says."""

    def __init__(self, backbone: nn.Module, grid: int, pool: str):
        super().__init__()
        self.backbone, self.grid, self.pool = backbone, grid, pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return over_time(per_frame_grid(self.backbone, x, self.grid), self.pool)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--grids", default="4", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--labels", default="direction,digit")
    p.add_argument("--order", action="store_true", help="direction: the frames in time order, not their mean and trend")
    p.add_argument("--name", default=None, help="names the result file (default: the run directory's name)")
    args = p.parse_args()
    torch.set_num_threads(1)
    arrays = np.load(split_data())
    cfg = run_config(args.run)
    result = {"benchmark": "B4 grid readout", "run": args.run, "method": cfg.method, "probe": PROBE,
              "direction_read": "frames in order" if args.order else "mean and trend", "figures": {}}
    for grid in args.grids:
        for label in args.labels.split(","):
            key = KEYS[label]
            for who, backbone in (("pretrained", load_backbone(args.run)), ("random_init", init_backbone(cfg))):
                start = time.perf_counter()
                readout = GridPooled(backbone, grid, "order" if args.order and label == "direction" else POOL[label])
                scores = frozen_scores(extract_features(readout, torch.from_numpy(arrays["x_train"])),
                                       torch.from_numpy(arrays[f"{key}_train"]),
                                       extract_features(readout, torch.from_numpy(arrays["x_test"])),
                                       torch.from_numpy(arrays[f"{key}_test"]))
                row = {"knn": round(scores["knn"]["top1"], 4), "linear": round(scores["linear"]["top1"], 4),
                       "seconds": round(time.perf_counter() - start)}
                result["figures"][f"grid{grid}/{label}/{who}"] = row
                print(f"grid {grid}, {label}, {who}: {row}", flush=True)
                save(f"video_grid_probe_{args.name or Path(args.run).name}", result)


if __name__ == "__main__":
    main()
