"""Report and export on a real Fashion-MNIST run: the cost of ``report.html`` (first write, with
the embedding map, and a rebuild, with the map cached), the cost and size of each export, and
whether each exported file gives the backbone's features (max |difference| on 256 test images,
each file loaded with the plain library: torch / torchvision, safetensors, onnxruntime).

    OMP_NUM_THREADS=2 python benchmarks/report_export.py --runs /tmp/runs/report --limit 10000 --epochs 1

Pretrains SimCLR (the run the numbers come from, with the online kNN monitor) unless ``--run``
names a finished run. Writes benchmarks/results/report_export_BACKBONE.json; the report's
screenshot is not taken here (tests/report/test_browser.py does that).
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from torch import nn  # noqa: E402

import ssrl  # noqa: E402
from ssrl.backbones import build_backbone  # noqa: E402
from ssrl.data import load_labeled, to_unit  # noqa: E402
from ssrl.export import FORMATS, export  # noqa: E402
from ssrl.report import write_report  # noqa: E402
from ssrl.report.embedding_map import CACHE  # noqa: E402


def reload(path: Path) -> nn.Module:
    """The exported file as a module, loaded as its JSON says a user without ssrl would
    (safetensors of a non-ResNet backbone: rebuilt with ssrl, the one case that needs it)."""
    spec = json.loads(path.with_name(path.name + ".json").read_text())
    if path.suffix == ".pt2":
        return torch.export.load(path).module()
    if spec["backbone"].startswith("resnet"):
        net = getattr(torchvision.models, spec["backbone"])()
        net.conv1 = nn.Conv2d(spec["in_channels"], 64, 3, 1, 1, bias=False)  # the small-image stem (28 px)
        net.maxpool, net.fc = nn.Identity(), nn.Identity()
    else:
        net = build_backbone(spec["backbone"], spec["in_channels"], spec["image_size"])
    weights = load_file(path) if path.suffix == ".safetensors" else torch.load(path, weights_only=True)
    net.load_state_dict(weights)
    return net.eval()


def features_of(path: Path, x: torch.Tensor) -> np.ndarray:
    if path.suffix == ".onnx":
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            ["features"], {"images": x.numpy()})[0]
    with torch.no_grad():
        return reload(path)(x).numpy()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="A finished run to use instead of pretraining one.")
    parser.add_argument("--runs", default="/tmp/runs/report", help="Where to pretrain.")
    parser.add_argument("--backbone", default="convnet-small")
    parser.add_argument("--limit", type=int, default=10_000, help="Training images for the pretraining.")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    result = {"backbone": args.backbone}
    if args.run:
        run = Path(args.run)
    else:
        run = Path(args.runs) / f"simclr-{args.backbone}"
        shutil.rmtree(run, ignore_errors=True)
        run, result["pretrain_wall_s"] = timed(lambda: ssrl.pretrain(
            "fashion-mnist", "simclr", out=run, backbone=args.backbone, epochs=args.epochs, limit=args.limit,
            monitor="fashion-mnist", progress=False))
        result.update(limit=args.limit, epochs=args.epochs)
    (run / CACHE).unlink(missing_ok=True)
    report, result["report_first_s"] = timed(lambda: write_report(run))  # data, features, t-SNE
    _, result["report_cached_s"] = timed(lambda: write_report(run))
    result["report_bytes"] = report.stat().st_size
    result["map"] = str(np.load(run / CACHE)["technique"])

    _, test, _ = load_labeled("fashion-mnist")
    x = to_unit(test.images[:256])
    with torch.no_grad():
        expected = ssrl.load_backbone(run)(x).numpy()
    for fmt in FORMATS:
        path, seconds = timed(lambda: export(run, fmt))
        got = features_of(path, x)
        result[fmt] = {"file": path.name, "seconds": round(seconds, 2), "bytes": path.stat().st_size,
                       "max_abs_diff": float(np.abs(got - expected).max()),
                       "feature_scale": float(np.abs(expected).max())}
    for key in ("pretrain_wall_s", "report_first_s", "report_cached_s"):
        if key in result:
            result[key] = round(result[key], 2)
    save(f"report_export_{args.backbone}", result)


if __name__ == "__main__":
    main()
