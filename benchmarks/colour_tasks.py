"""Held-out reconstruction error of the colour pretext tasks against their trivial baselines.

    python benchmarks/colour_images.py                 # the data: runs/colour32.npy + runs/colour32_heldout.npy
    python benchmarks/colour_tasks.py --epochs 20      # colorization, split_brain, super_resolution
    python benchmarks/colour_tasks.py --methods super_resolution --epochs 1 --limit 64   # a smoke test

Each method pretrains on the training crops through ``ssrl.api.pretrain`` (its own defaults,
``--param name=value`` to change them), then its trained h_θ and k_γ (from the run's
last.ckpt) reconstruct the held-out crops, which come from parts of the photographs no
training crop touches. Errors are mean squared errors per pixel and channel, on the held-out
images at full resolution:

* colorization: ab predicted from L, in Lab units², against the mean colour (the training set's
  mean a and b at every pixel); classification runs also report the plain mean of the predicted
  distribution (T = 1), the MSE-friendlier readout, beside the paper's annealed mean.
* split_brain: ab from L as above, and L from ab against the training set's mean L.
* super_resolution: pixels in [0, 1] (and PSNR in dB) against bilinear upsampling of the
  low-resolution image.

Prints and writes benchmarks/results/colour_tasks_Nep.json (``_limitN`` added with --limit).
"""

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

from ssrl.api import pretrain  # noqa: E402
from ssrl.data.arrays import images_tensor  # noqa: E402
from ssrl.pretext import get_method, method_config  # noqa: E402
from ssrl.pretext import colorization, split_brain, super_resolution  # noqa: E402,F401  (registers them)
from ssrl.data import to_unit  # noqa: E402
from ssrl.pretext.lab import split_lab  # noqa: E402
from ssrl.pretext.super_resolution import enlarge, low_resolution  # noqa: E402
from ssrl.runs import init_backbone, run_config  # noqa: E402
from ssrl.views import ViewConfig, Views  # noqa: E402

METHODS = ("colorization", "split_brain", "super_resolution")


def trained_method(run_dir: Path) -> torch.nn.Module:
    """The run's method (h_θ and k_γ) with its last checkpoint's weights, in eval mode, on the CPU."""
    cfg = run_config(run_dir)
    method = get_method(cfg.method)(init_backbone(cfg), method_config(cfg.method, cfg.params), Views(ViewConfig.none()))
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    method.load_state_dict({k.removeprefix("method."): v for k, v in state.items() if k.startswith("method.")})
    return method.eval()


def batches(images: torch.Tensor, size: int = 256):
    """Float batches in [0, 1] of uint8 images (N, C, H, W)."""
    for start in range(0, len(images), size):
        yield to_unit(images[start:start + size])


def mean_lab(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean L (1,) and mean ab (2,) over every pixel of uint8 RGB images."""
    total, n = torch.zeros(3, dtype=torch.float64), 0
    for x in batches(images):
        l, ab = split_lab(x)
        total += torch.cat([l, ab], 1).double().sum(dim=(0, 2, 3))
        n += x.shape[0] * x.shape[2] * x.shape[3]
    mean = (total / n).float()
    return mean[:1], mean[1:]


def squared_error(prediction: torch.Tensor, target: torch.Tensor) -> float:
    return float(((prediction.double() - target.double()) ** 2).sum())


@torch.no_grad()
def colour_errors(method, train: torch.Tensor, heldout: torch.Tensor) -> dict:
    """Held-out MSEs of the colour tasks and of the mean-colour (and mean-lightness) baselines."""
    mean_l, mean_ab = mean_lab(train)
    sums: dict[str, float] = {}
    add = lambda key, value: sums.__setitem__(key, sums.get(key, 0.0) + value)  # noqa: E731
    for x in batches(heldout):
        l, ab = split_lab(x)
        add("ab_mse_baseline_mean_colour", squared_error(mean_ab.view(1, 2, 1, 1).expand_as(ab), ab) / 2)
        if isinstance(method, colorization.Colorization):
            add("ab_mse", squared_error(method.colorize(x), ab) / 2)
            if method.classification:
                add("ab_mse_mean_readout", squared_error(method.colorize(x, temperature=1.0), ab) / 2)
        else:
            ab_from_l, l_from_ab = method.cross_predict(x)
            add("ab_mse", squared_error(ab_from_l, ab) / 2)
            add("l_mse", squared_error(l_from_ab, l))
            add("l_mse_baseline_mean_lightness", squared_error(mean_l.view(1, 1, 1, 1).expand_as(l), l))
    pixels = heldout.shape[0] * heldout.shape[2] * heldout.shape[3]
    return {key: value / pixels for key, value in sums.items()}


@torch.no_grad()
def super_resolution_errors(method, heldout: torch.Tensor) -> dict:
    """Held-out pixel MSE and PSNR of the model and of bilinear upsampling of the low-res image."""
    cfg, model, baseline = method.cfg, 0.0, 0.0
    for x in batches(heldout):
        _, prediction = method.super_resolve(x)
        bilinear = enlarge(low_resolution(x, cfg.factor, cfg.downsample), tuple(x.shape[-2:]), "bilinear")
        model += squared_error(prediction, x)
        baseline += squared_error(bilinear, x)
    n = heldout.numel()
    psnr = lambda mse: 10 * math.log10(1 / mse) if mse > 0 else float("inf")  # noqa: E731
    return {"factor": cfg.factor, "pixel_mse": model / n, "pixel_mse_baseline_bilinear": baseline / n,
            "psnr_db": psnr(model / n), "psnr_db_baseline_bilinear": psnr(baseline / n)}


def parse_params(items: list[str]) -> dict[str, dict[str, str]]:
    """``method.name=value`` or ``name=value`` (every method) → {method: {name: value}}."""
    out: dict[str, dict[str, str]] = {m: {} for m in METHODS}
    for item in items:
        key, _, value = item.partition("=")
        method, _, name = key.rpartition(".")
        for m in ([method] if method else METHODS):
            out[m][name] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="runs/colour32.npy", help="training crops (benchmarks/colour_images.py)")
    parser.add_argument("--heldout", default=None, help="held-out crops (default: DATA with _heldout)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--backbone", default="convnet-small")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and held-out images")
    parser.add_argument("--param", action="append", default=[], help="method.name=value or name=value (repeatable)")
    parser.add_argument("--runs", type=Path, default=Path("runs/colour_tasks"), help="where the run directories go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="suffix of the result file, for a variant (e.g. _skip)")
    args = parser.parse_args()

    data = Path(args.data)
    heldout_path = Path(args.heldout) if args.heldout else data.with_name(f"{data.stem}_heldout.npy")
    for path in (data, heldout_path):
        if not path.is_file():
            sys.exit(f"{path}: not found; build it with python benchmarks/colour_images.py")
    train = images_tensor(np.load(data), str(data))[:args.limit]
    heldout = images_tensor(np.load(heldout_path), str(heldout_path))[:args.limit]
    params = parse_params(args.param)

    results = {}
    for name in args.methods.split(","):
        if name not in METHODS:
            sys.exit(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
        run_dir = args.runs / f"{name}-{args.epochs}ep"
        shutil.rmtree(run_dir, ignore_errors=True)
        start = time.perf_counter()
        pretrain(str(data), name, out=run_dir, epochs=args.epochs, batch_size=min(args.batch_size, len(train)),
                 backbone=args.backbone, seed=args.seed, limit=args.limit, params=params[name], progress=False)
        seconds = time.perf_counter() - start
        method = trained_method(run_dir)
        errors = (super_resolution_errors(method, heldout) if hasattr(method, "super_resolve")
                  else colour_errors(method, train, heldout))
        results[name] = {"params": run_config(run_dir).params, "train_seconds": round(seconds, 1), **errors}
        print(name, {k: v for k, v in errors.items()}, flush=True)

    suffix = (f"_limit{args.limit}" if args.limit else "") + args.tag
    save(f"colour_tasks_{args.epochs}ep{suffix}", {
        "benchmark": "held-out reconstruction error of the colour pretext tasks vs trivial baselines",
        "data": str(data), "heldout": str(heldout_path), "n_train": len(train), "n_heldout": len(heldout),
        "image_size": list(train.shape[2:]), "backbone": args.backbone, "epochs": args.epochs,
        "batch_size": min(args.batch_size, len(train)), "seed": args.seed, "results": results})


if __name__ == "__main__":
    main()
