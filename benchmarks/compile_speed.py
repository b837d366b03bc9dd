"""Issue 21: does ``torch.compile`` pay on CPU? Model + loss step time of one method on B1's
shapes, eager against compiled (h_θ and k_γ compiled in place with ``nn.Module.compile``, so
their state_dict keys, checkpoints and exports do not change), at float32 and under bf16
autocast; the compile time (the first step's extra wall time); and the break-even point: the
steps after which the compiled run has caught up, compile time / (eager step − compiled step).

    python benchmarks/compile_speed.py --method simclr --steps 30

Each variant runs in a fresh process (a compiled graph must not warm the next variant's caches).
The data pipeline is left out: the views are made once, as ``fashion_mnist.model_and_loss_step_s``.
Result: ``benchmarks/results/compile_speed_METHOD.json``.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402

VARIANTS = [(compiled, precision) for precision in ("32-true", "bf16-mixed") for compiled in (False, True)]


def worker(method_name: str, compiled: bool, precision: str, steps: int, batch: int) -> dict:
    from ssrl.backbones import build_backbone
    from ssrl.pretext import METHODS, method_config
    from ssrl.views import Views

    torch.manual_seed(0)
    cls = METHODS[method_name]
    backbone = build_backbone(cls.default_backbone or "convnet-small", 1, 28, seed=0)
    method = cls(backbone, method_config(method_name, {}), Views(cls.default_views()))
    images = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8)
    method.on_train_epoch_start(0, images, None)
    inputs, z = method.pseudolabels(images.float().div(255), torch.arange(batch))
    if compiled:
        method.backbone.compile()
        method.head.compile()
    opt = torch.optim.AdamW(method.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss, _ = method.loss(inputs, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    steady = statistics.median(times[1 + steps // 3:])
    return {"compiled": compiled, "precision": precision, "first_step_s": round(times[0], 2),
            "step_s": round(steady, 4), "img_s": round(batch / steady, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="simclr")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        compiled, precision = args.worker.split(":")
        print(json.dumps(worker(args.method, compiled == "compiled", precision, args.steps, args.batch_size)))
        return
    rows = []
    for compiled, precision in VARIANTS:
        tag = f"{'compiled' if compiled else 'eager'}:{precision}"
        out = subprocess.run([sys.executable, __file__, "--method", args.method, "--steps", str(args.steps),
                              "--batch-size", str(args.batch_size), "--worker", tag],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    for precision in ("32-true", "bf16-mixed"):
        eager, comp = (next(r for r in rows if r["precision"] == precision and r["compiled"] == c) for c in (False, True))
        gain = eager["step_s"] - comp["step_s"]
        extra = comp["first_step_s"] - eager["first_step_s"]
        comp["compile_s"] = round(extra, 1)
        comp["speedup"] = round(eager["step_s"] / comp["step_s"], 3)
        comp["break_even_steps"] = round(extra / gain) if gain > 0 else None
    save(f"compile_speed_{args.method}", {"benchmark": "torch.compile on CPU, model + loss", "method": args.method,
                                          "batch_size": args.batch_size, "steps": args.steps, "rows": rows})


if __name__ == "__main__":
    main()
