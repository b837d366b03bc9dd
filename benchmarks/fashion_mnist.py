"""Protocol B1 of the benchmark protocols: Fashion-MNIST, pretrain without labels, then kNN and
linear probe on frozen features beside the random-init floor, throughput and peak memory.

    python benchmarks/fashion_mnist.py --methods simclr,rotation --epochs 3
    python benchmarks/fashion_mnist.py --methods all --epochs 3      # every image method
    python benchmarks/fashion_mnist.py --table --epochs 3            # the table of saved results
    python benchmarks/fashion_mnist.py --table --longest             # each method's longest run
    python benchmarks/fashion_mnist.py --methods dino --param out_dim=1024 --tag _k1024   # a variant

Each method runs in its own process so its peak memory is its own; each writes
benchmarks/results/fashion_mnist_METHOD_Nep.json and the parent prints a summary table.
``--table`` prints the Markdown table of BENCHMARKS.md from every saved result of that length;
with ``--longest``, from each method's longest run with its default settings (no ``--tag``).
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, flat_scores, peak_rss_mb, save  # noqa: E402

from ssrl.api import build, labeled, pretrain, score  # noqa: E402
from ssrl.pretext import METHODS, get_method  # noqa: E402
from ssrl.resolve import resolve  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402

WARMUP_STEPS = 10
PROTOCOL_BACKBONE = "convnet-small"  # B1's backbone, for the methods that declare no default_backbone of their own


class StepTimer(Callback):
    """Wall time between consecutive training-step starts: the end-to-end step, data included."""

    def __init__(self):
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts.append(time.perf_counter())

    def steady_step_s(self) -> float:
        gaps = [b - a for a, b in zip(self.starts, self.starts[1:])]
        gaps = gaps[min(WARMUP_STEPS, len(gaps) // 2):]
        return statistics.median(gaps)


def model_and_loss_step_s(run_dir: Path, images: torch.Tensor, steps: int = 20) -> float:
    """Median time of one optimizer step on pre-made views: model + loss alone, no data pipeline."""
    resolved = resolve(run_config(run_dir), run_dir)  # the same resolution the run used (its config.yaml)
    cfg, optim = resolved.config, resolved.optimizer
    with tempfile.TemporaryDirectory() as scratch:  # the engine as the run built it (channels_last included)
        module, _ = build(resolved, Path(scratch), progress=False)
    method = module.method
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4) if optim.name == "adamw" else torch.optim.SGD(module.parameters(), lr=1e-3, momentum=0.9)
    method.on_train_epoch_start(0, images, None)  # stateful methods (DeepCluster) prepare their epoch
    index = torch.arange(cfg.batch_size)
    x = images[index].float().div(255)
    # made once, outside the timed loop
    inputs, z = method.pseudolabels(x, index)
    times = []
    for _ in range(WARMUP_STEPS + steps):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16-mixed"):  # as the run
            loss, _ = method.loss(inputs, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[WARMUP_STEPS:])


def run_one(args) -> dict:
    out = Path(args.runs) / f"{args.methods}-{args.epochs}ep{args.tag}"
    shutil.rmtree(out, ignore_errors=True)  # a benchmark always starts from scratch
    timer = StepTimer()
    start = time.perf_counter()
    run = pretrain(args.data, args.methods, out=out, epochs=args.epochs, batch_size=args.batch_size,
                   backbone=args.backbone, seed=args.seed, limit=args.limit, lr=args.lr, optimizer=args.optimizer,
                   weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, precision=args.precision,
                   params=dict(kv.split("=", 1) for kv in args.param),
                   views=dict(kv.split("=", 1) for kv in args.view), callbacks=(timer,))
    wall = time.perf_counter() - start
    train, test, split = labeled(run, args.data)  # D_t as the run saw D_s (Rows: .rows, .labels)
    cfg = run_config(run)
    step_e2e = timer.steady_step_s()
    step_model = model_and_loss_step_s(run, train.rows)
    result = {
        "benchmark": "B1", "method": args.methods, "backbone": args.backbone, "epochs": args.epochs,
        "batch_size": args.batch_size, "source_images": args.limit or len(train), "split": split,
        "optimizer": {"name": cfg.optimizer, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                      "warmup_epochs": cfg.warmup_epochs, "schedule": "cosine"},
        "params": cfg.params, "views": cfg.views, "precision": cfg.precision, "seed": args.seed,
        "pretrain_wall_s": round(wall, 1),
        "throughput_end_to_end": round(args.batch_size / step_e2e, 1),
        "throughput_model_loss": round(args.batch_size / step_model, 1),
        "pipeline_ratio": round(step_model / step_e2e, 3),
        "pretrained": flat_scores(score(load_backbone(run), train, test, seed=args.seed)),
        "random_init": flat_scores(score(init_backbone(cfg), train, test, seed=args.seed)),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "run_dir": str(run),
    }
    save(f"fashion_mnist_{args.methods}_{args.epochs}ep{args.tag}", result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="simclr,rotation")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--backbone", default=None, help="default: the method's declared default_backbone (mae: vit-mini), "
                                                    f"else {PROTOCOL_BACKBONE}")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--limit", type=int, default=None, help="pretrain on the first N images only (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", help="auto (the library's default), 32-true or bf16-mixed")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a method parameter (repeatable)")
    p.add_argument("--view", action="append", default=[], metavar="KEY=VALUE", help="a view option (repeatable)")
    p.add_argument("--lr", type=float, default=None, help="default: the method's own, scaled by batch/256")
    p.add_argument("--optimizer", default=None, help="default: the method's own (sgd or adamw)")
    p.add_argument("--weight-decay", type=float, default=None, help="default: the method's own")
    p.add_argument("--warmup-epochs", type=float, default=None, help="default: the method's own")
    p.add_argument("--runs", default="runs/bench")
    p.add_argument("--tag", default="", help="suffix of the result file and run directory, for a variant "
                                             "(left out of --table)")
    p.add_argument("--table", action="store_true", help="only print the table of the saved results")
    p.add_argument("--longest", action="store_true", help="with --table: each method's longest untagged run")
    args = p.parse_args()
    if args.table:
        if args.longest:
            print_table(longest_runs(), epochs_column=True)
        else:
            print_table(sorted(RESULTS.glob(f"fashion_mnist_*_{args.epochs}ep.json")))
        return
    methods = image_methods() if args.methods == "all" else args.methods.split(",")
    if len(methods) == 1:
        args.backbone = args.backbone or get_method(args.methods).default_backbone or PROTOCOL_BACKBONE
        run_one(args)
        return
    for m in methods:  # one process per method: its own peak memory
        cmd = [sys.executable, __file__, "--methods", m, *_without_methods(sys.argv[1:])]
        subprocess.run(cmd, check=True)
    print_table([RESULTS / f"fashion_mnist_{m}_{args.epochs}ep{args.tag}.json" for m in methods])


def image_methods() -> list[str]:
    """Every image method that can train on grayscale Fashion-MNIST."""
    return sorted(name for name, cls in METHODS.items() if cls.modality == "image" and cls.needs_channels != 3)


def longest_runs() -> list[Path]:
    """Each method's saved result with the most epochs, among those run without ``--tag``."""
    longest: dict[str, tuple[int, Path]] = {}
    for path in RESULTS.glob("fashion_mnist_*ep.json"):
        match = re.fullmatch(r"fashion_mnist_(.+)_(\d+)ep", path.stem)
        if match and int(match[2]) > longest.get(match[1], (0, path))[0]:
            longest[match[1]] = (int(match[2]), path)
    return [path for _, path in longest.values()]


def print_table(paths: list[Path], epochs_column: bool = False) -> None:
    """The Markdown table of BENCHMARKS.md: one row per result file, best linear probe first;
    ``epochs_column`` adds each run's epochs and date after the backbone."""
    rows = sorted((json.loads(p.read_text()) for p in paths), key=lambda r: -r["pretrained"]["linear"])
    extra = " epochs | date |" if epochs_column else ""
    print(f"| method | backbone |{extra} kNN top-1 (random init) | linear top-1 (random init) | img/s end to end "
          "| img/s model+loss | ratio | peak RSS | pretrain wall |")
    print("|---|---|" + ("---|---|" if epochs_column else "") + "---|---|---|---|---|---|---|")
    for r in rows:
        pre, rand = r["pretrained"], r["random_init"]
        extra = f" {r['epochs']} | {r['date']} |" if epochs_column else ""
        print(f"| {r['method']} | {r['backbone']} |{extra} {_vs(pre['knn'], rand['knn'])} "
              f"| {_vs(pre['linear'], rand['linear'])} "
              f"| {r['throughput_end_to_end']:,.0f} | {r['throughput_model_loss']:,.0f} | {r['pipeline_ratio']:.2f} "
              f"| {r['peak_rss_mb'] / 1024:.1f} GB | {r['pretrain_wall_s']:,.0f} s |")


def _vs(value: float, floor: float) -> str:
    """The pretrained figure, bold when above its random-init floor."""
    shown = f"**{value:.3f}**" if value > floor else f"{value:.3f}"
    return f"{shown} ({floor:.3f})"


def _without_methods(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--methods":
            skip = True
        elif not a.startswith("--methods="):
            out.append(a)
    return out


if __name__ == "__main__":
    main()
