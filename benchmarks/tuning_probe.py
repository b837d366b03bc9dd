"""A quick probe for tuning a method's short-schedule defaults on Fashion-MNIST (not a protocol).

    python benchmarks/tuning_probe.py METHOD [--steps 350] [--optimizer sgd|adamw] [--lr LR]
        [--weight-decay WD] [--param KEY=VALUE ...] [--view KEY=VALUE ...]

    python benchmarks/tuning_probe.py simsiam --steps 350 --optimizer sgd --lr 0.05 --weight-decay 5e-4

Pretrains ``convnet-small`` for STEPS steps of 256 images from the first 50,000 training images
(``ssrl.api.pretrain(..., limit=50_000, max_steps=STEPS)``: the engine's data order, views and
optimizer, the cosine learning-rate schedule ending at STEPS, no warm-up unless
``--warmup-epochs``; the optimizer, learning rate, weight decay, method parameters and views are
the method's own unless given), then prints kNN top-1 (k = 200, cosine, T = 0.1; ``ssrl.api.score``)
of the backbone on 2,000 held-out training images (50,000-51,999) against a bank of the first
10,000, at random init and after, and saves benchmarks/results/tuning/probe_*.json (``--save-dir``).

It trains exactly as ``ssrl pretrain`` does, so the earlier probe's ``fixed`` option (a constant
learning rate for SimSiam's predictor, in a parameter group of its own) has no counterpart, and
its random batches drawn with replacement are now the engine's epochs of a fresh permutation.
"""

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from ssrl.api import labeled, pretrain, score
from ssrl.runs import init_backbone, load_backbone, run_config

DATA, BACKBONE, BATCH = "fashion-mnist", "convnet-small", 256
SOURCE = 50_000                          # pretraining sees the first 50,000 training images only
BANK, QUERIES = slice(0, 10_000), slice(50_000, 52_000)  # of the training split: kNN bank, held-out queries


class LossPrinter(Callback):
    """Prints the step, its loss and the seconds since training began, every ``every`` steps."""

    def __init__(self, every: int = 50):
        self.every, self.start = every, time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step % self.every == 0:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            print(step, round(float(loss), 3), round(time.time() - self.start), flush=True)


def key_values(items: list[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict (values stay strings: pretrain parses them by field type)."""
    pairs = [item.partition("=") for item in items]
    bad = [item for item, (_, eq, _) in zip(items, pairs) if not eq]
    if bad:
        raise SystemExit(f"--{what} takes KEY=VALUE, got {bad[0]!r}")
    return {key: value for key, _, value in pairs}


def knn(backbone, bank, queries) -> float:
    return score(backbone, bank, queries, ("knn",), k=200, temperature=0.1)["knn"]["top1"]


def probe(args, out: Path) -> dict:
    params, views = key_values(args.param, "param"), key_values(args.view, "view")
    run = pretrain(DATA, args.method, out=out, backbone=BACKBONE, batch_size=BATCH, limit=SOURCE,
                   epochs=math.ceil(args.steps / (SOURCE // BATCH)), max_steps=args.steps, seed=args.seed,
                   optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
                   warmup_epochs=args.warmup_epochs, params=params, views=views,
                   callbacks=(LossPrinter(),), progress=False)
    cfg = run_config(run)
    train, _, _ = labeled(run, DATA)
    bank, queries = train.subset(BANK), train.subset(QUERIES)
    init = knn(init_backbone(cfg), bank, queries)  # the backbone pretraining started from
    print("init knn", init, flush=True)
    after = knn(load_backbone(run), bank, queries)
    print("knn", after, sys.argv[1:], flush=True)
    return {"method": args.method, "params": params, "views": views, "steps": args.steps, "optimizer": cfg.optimizer,
            "lr": cfg.lr, "weight_decay": cfg.weight_decay, "warmup_epochs": cfg.warmup_epochs, "seed": cfg.seed,
            "resolved_params": cfg.params, "knn_random_init": init, "knn": after}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method")
    p.add_argument("--steps", type=int, default=350, help="optimizer steps (the schedule ends there)")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default=None, help="default: the method's own")
    p.add_argument("--lr", type=float, default=None, help="default: the method's own")
    p.add_argument("--weight-decay", type=float, default=None, help="default: the method's own")
    p.add_argument("--warmup-epochs", type=float, default=0.0, help="linear warm-up, in epochs of 195 steps")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a method parameter (repeatable)")
    p.add_argument("--view", action="append", default=[], metavar="KEY=VALUE", help="a view option (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="keep the run here (default: a temporary directory)")
    p.add_argument("--tag", default="", help="suffix of the result file's name")
    p.add_argument("--save-dir", type=Path, default=Path(__file__).parent / "results" / "tuning")
    args = p.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as tmp:
            result = probe(args, Path(tmp) / "run")
    else:
        result = probe(args, args.out)
    args.save_dir.mkdir(parents=True, exist_ok=True)
    name = (f"probe_{args.method}_{args.steps}_{result['optimizer']}_{result['lr']:g}_{result['weight_decay']:g}"
            + "".join(f"_{k}{v}" for k, v in result["params"].items()) + args.tag)
    (args.save_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
