"""Per-layer probes of a B1 run (issue 27): kNN and the linear probe on each of h_θ's feature maps,
average-pooled to about 9,000 dimensions (Zhang et al. 2016's protocol, ``ssrl.evaluation.layers``),
beside the same readout of the random-init backbone, on Fashion-MNIST's 60,000 / 10,000 split.

    SSRL_DATA_DIR=/path/to/fashion-mnist OMP_NUM_THREADS=1 \\
        python benchmarks/layer_probe.py RUN --layers 1,2,3 --name synthetic_multitask-3ep

The same figures one layer at a time: ``ssrl evaluate RUN --data fashion-mnist --protocol linear
--layer N`` (and ``--protocol knn``). Here each layer's features are extracted once and both
protocols read them (``frozen_scores``). Result: ``benchmarks/results/layer_probe_NAME.json``,
written after every layer, so a stopped run keeps what it finished.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import PROBE, save  # noqa: E402

from ssrl.api import labeled  # noqa: E402
from ssrl.evaluation import extract_features  # noqa: E402
from ssrl.evaluation.layers import LayerReadout  # noqa: E402
from ssrl.evaluation.protocols import frozen_scores  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--layers", default="1,2,3", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--name", default=None, help="names the result file (default: the run directory's name)")
    args = p.parse_args()
    cfg = run_config(args.run)
    train, test, split = labeled(args.run, args.data)
    result = {"benchmark": "per-layer probe", "run": args.run, "method": cfg.method, "backbone": cfg.backbone,
              "data": args.data, "split": split, "probe": PROBE, "layers": {}}
    for layer in args.layers:
        for who, backbone in (("pretrained", load_backbone(args.run)), ("random_init", init_backbone(cfg))):
            start = time.perf_counter()
            readout = LayerReadout(backbone, layer, cfg.image_size)
            scores = frozen_scores(extract_features(readout, train.rows), train.labels,
                                   extract_features(readout, test.rows), test.labels)
            row = {"grid": readout.grid, "knn": round(scores["knn"]["top1"], 4),
                   "linear": round(scores["linear"]["top1"], 4), **scores["features"],
                   "seconds": round(time.perf_counter() - start)}
            result["layers"].setdefault(str(layer), {})[who] = row
            print(f"layer {layer}, {who}: {row}", flush=True)
            save(f"layer_probe_{args.name or Path(args.run).name}", result)


if __name__ == "__main__":
    main()
