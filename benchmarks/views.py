"""Throughput of batched per-sample views (ssrl.views) against kornia and a torchvision loop.

DESIGN.md leaves the augmentation library to a measurement: "kornia or
torchvision.transforms.v2, whichever the benchmark shows faster for batched per-sample random
views on the device". This script takes it. For each input shape it times, on one device:

- ssrl:  ``Views(ViewConfig.simclr())`` on the whole batch (crop 0.2-1 + flip, jitter p=0.8
  (0.4, 0.4, 0.4, 0.1), grayscale p=0.2; brightness/contrast only for 1 channel);
- kornia: the same ops as kornia.augmentation modules with same_on_batch=False;
- torchvision.transforms.v2 Compose of the same ops applied per sample in a Python loop, the
  common recipe, for reference;
- a SimCLR-shaped training step of convnet-small (forward + backward + SGD step on the two
  256-image views), so the views' share of a step can be read off (the target is < 5%).

Each figure is the median of several timed repeats after warm-up. Results go to stdout and
benchmarks/results/views.json. Run: ``PYTHONPATH=src python benchmarks/views.py``.
"""

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.transforms import v2

from ssrl.views import ViewConfig, Views

SHAPES = [(256, 1, 28, 28), (256, 3, 32, 32)]
RESULTS = Path(__file__).parent / "results" / "views.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def seconds_per_call(fn, device: torch.device, repeats: int, min_repeat_s: float = 0.2) -> float:
    """Median over ``repeats`` of the mean time per call, each repeat at least ``min_repeat_s`` long."""

    def timed(calls: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    first = timed(3)  # warm-up, and a first estimate of the call's cost
    calls = max(1, round(min_repeat_s / max(first / 3, 1e-6)))
    return statistics.median(timed(calls) / calls for _ in range(repeats))


def torchvision_loop(cfg: ViewConfig, channels: int, size: int):
    """The per-sample recipe: a v2.Compose called on each image of the batch, then stacked."""
    jitter = (cfg.brightness, cfg.contrast) + ((cfg.saturation, cfg.hue) if channels == 3 else ())
    ops = [
        v2.RandomResizedCrop(size, scale=cfg.crop_scale, ratio=cfg.crop_ratio, antialias=False),
        v2.RandomHorizontalFlip(cfg.hflip),
        v2.RandomApply([v2.ColorJitter(*jitter)], p=cfg.jitter),
    ]
    if channels == 3:
        ops.append(v2.RandomGrayscale(cfg.grayscale))
    compose = v2.Compose(ops)
    return lambda x: torch.stack([compose(img) for img in x])


def kornia_pipeline(cfg: ViewConfig, channels: int, size: int):
    """kornia's per-sample pipeline of the same ops (same_on_batch=False throughout), or None."""
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    jitter = (cfg.brightness, cfg.contrast) + ((cfg.saturation, cfg.hue) if channels == 3 else ())
    ops = [
        K.RandomResizedCrop((size, size), scale=cfg.crop_scale, ratio=cfg.crop_ratio, same_on_batch=False),
        K.RandomHorizontalFlip(p=cfg.hflip, same_on_batch=False),
        K.ColorJitter(*jitter, p=cfg.jitter, same_on_batch=False),
    ]
    if channels == 3:
        ops.append(K.RandomGrayscale(p=cfg.grayscale, same_on_batch=False))
    return nn.Sequential(*ops)


def train_step(channels: int, size: int, device: torch.device):
    """A SimCLR-shaped step of convnet-small on two views: forward, backward, SGD; or None."""
    try:
        from ssrl.backbones import build_backbone
    except ImportError:
        return None
    backbone = build_backbone("convnet-small", channels, size).to(device)
    head = nn.Linear(backbone.dim, 128).to(device)
    opt = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.01)

    def step(views: torch.Tensor):
        z = nn.functional.normalize(head(backbone(views)), dim=1)
        loss = -(z[: len(z) // 2] * z[len(z) // 2 :]).sum(1).mean()  # stand-in for NT-Xent: cost is the CNN
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bench_shape(shape, device: torch.device, repeats: int) -> dict:
    b, c, h, _ = shape
    cfg = ViewConfig.simclr()
    x = torch.rand(shape, device=device)
    result = {}
    views = Views(cfg)
    result["ssrl_images_per_s"] = b / seconds_per_call(lambda: views(x), device, repeats)
    kornia_views = kornia_pipeline(cfg, c, h)
    if kornia_views is not None:
        result["kornia_images_per_s"] = b / seconds_per_call(lambda: kornia_views(x), device, repeats)
    loop = torchvision_loop(cfg, c, h)
    result["torchvision_v2_loop_images_per_s"] = b / seconds_per_call(lambda: loop(x), device, repeats)
    step = train_step(c, h, device)
    if step is not None:
        pair = torch.cat([views(x), views(x)])
        step_s = seconds_per_call(lambda: step(pair), device, repeats)
        views_s = 2 * b / result["ssrl_images_per_s"]  # two views per step
        result["train_step_ms"] = 1e3 * step_s
        result["ssrl_views_ms_per_step"] = 1e3 * views_s
        result["ssrl_views_share_of_step"] = views_s / (views_s + step_s)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    try:
        import kornia

        kornia_version = kornia.__version__
    except ImportError:
        kornia_version = None
    report = {
        "benchmark": "views",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": args.device if device.type != "cuda" else torch.cuda.get_device_name(device),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "kornia": kornia_version,
        "pipeline": "ViewConfig.simclr(): crop (0.2, 1) + flip 0.5, jitter 0.8 (0.4, 0.4, 0.4, 0.1), grayscale 0.2",
        "repeats": args.repeats,
        "results": {},
    }
    for shape in SHAPES:
        key = "x".join(map(str, shape))
        report["results"][key] = bench_shape(shape, device, args.repeats)
        print(key, json.dumps({k: round(v, 4) for k, v in report["results"][key].items()}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
