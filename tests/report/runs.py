"""Run directories for the report tests, made without training (the report reads files only)."""

import numpy as np
import torch

from ssrl.config import RunConfig
from ssrl.runs import init_backbone, save_backbone

METRICS = """epoch,knn_top1,loss_epoch,loss_step,step
0,,,5.5,9
0,0.71,5.2,,19
1,,,4.9,29
1,0.80,4.7,,39
"""


def two_class_npz(path, n: int = 60, labels: bool = True):
    """Two classes of 12×12 images (bright left half vs bright right half) with noise."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (n, 12, 12), dtype=np.uint8)
    y = np.arange(n) % 2
    x[y == 0, :, :6] += 150
    x[y == 1, :, 6:] += 150
    np.savez(path, **({"x": x, "y": y} if labels else {"x": x}))
    return str(path)


def make_run(run_dir, data: str, monitor: str | None = None, metrics: str | None = METRICS):
    cfg = RunConfig(data=data, method="rotation", backbone="convnet-small", epochs=2, modality="image", image_size=12,
                    in_channels=1, monitor=monitor)
    run_dir.mkdir(parents=True)
    cfg.to_yaml(run_dir / "config.yaml")
    torch.manual_seed(0)
    save_backbone(init_backbone(cfg), cfg, run_dir)
    if metrics is not None:
        (run_dir / "metrics.csv").write_text(metrics)
    return run_dir
