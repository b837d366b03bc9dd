"""Issue 21, "every method's throughput": each image method on B1's data at float32 and at
``--precision auto``, end to end and model + loss alone, with its peak RSS, for a quiet machine.

    python benchmarks/throughput_all.py                       # every image method, 40 steps each
    python benchmarks/throughput_all.py --methods simclr,rotation --steps 12 --tag _smoke

Each (method, precision) runs ``ssrl pretrain --data fashion-mnist --max-steps STEPS --batch-size
256`` in its own process (so its peak RSS is its own), on its default backbone (B1's
``convnet-small`` where it declares none): the end-to-end step is the median gap between training
step starts after ``fashion_mnist.WARMUP_STEPS`` (data pipeline and views included), the model +
loss step the median of ``fashion_mnist.model_and_loss_step_s`` on views made once. The ``auto``
row is left out where ``auto`` resolves to float32 (it would repeat the float32 row). A method whose
end-to-end figure is under ``PIPELINE_FLAG`` of its model + loss figure is flagged: its input
pipeline costs it. The machine's load average is recorded before and after each row: figures
taken while something else runs are not figures. Result: benchmarks/results/throughput_all{TAG}.json.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_mb, save  # noqa: E402

PIPELINE_FLAG = 0.9
PRECISIONS = ("32-true", "auto")


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def precisions_to_time(method: str) -> tuple[str, ...]:
    """``PRECISIONS``, less ``auto`` where it resolves to float32 on this machine (an unchecked
    method, or no native bfloat16): that row would repeat the float32 one."""
    from ssrl.precision import choose_precision
    from ssrl.pretext import get_method

    chosen, _ = choose_precision("auto", "cpu", method, get_method(method).bf16_checked)
    return PRECISIONS if chosen != "32-true" else PRECISIONS[:1]


def worker(method: str, precision: str, steps: int, batch: int) -> dict:
    from fashion_mnist import PROTOCOL_BACKBONE, StepTimer, model_and_loss_step_s

    from ssrl.api import pretrain
    from ssrl.pretext import get_method
    from ssrl.runs import run_config
    from ssrl.transfer import labeled

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as tmp:
        run = pretrain("fashion-mnist", method, out=Path(tmp) / method, max_steps=steps, batch_size=batch,
                       backbone=get_method(method).default_backbone or PROTOCOL_BACKBONE, precision=precision,
                       progress=False, callbacks=(timer,))
        train, _, _ = labeled(run, "fashion-mnist")
        model_s = model_and_loss_step_s(run, train.rows)
        chosen = run_config(run).precision
    e2e_s = timer.steady_step_s()
    return {"method": method, "precision": precision, "ran_as": chosen, "steps": steps,
            "img_s_end_to_end": round(batch / e2e_s, 1), "img_s_model_loss": round(batch / model_s, 1),
            "pipeline_ratio": round(model_s / e2e_s, 3), "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="all", help="comma-separated, or all image methods")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--tag", default="")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        method, precision = args.worker.split(":")
        print(json.dumps(worker(method, precision, args.steps, args.batch_size)))
        return
    from ssrl.catalog import built_in_methods  # reads the method files: no torch import here

    methods = ([m["name"] for m in built_in_methods() if m["modality"] == "image"] if args.methods == "all"
               else args.methods.split(","))
    rows = []
    for method in methods:
        for precision in precisions_to_time(method):
            before = load_average()
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--batch-size",
                                  str(args.batch_size), "--worker", f"{method}:{precision}"],
                                 capture_output=True, text=True)
            row = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else
                   {"method": method, "precision": precision, "error": (out.stderr.strip().splitlines() or ["?"])[-1]})
            row.update(load_before=before, load_after=load_average(),
                       flagged=row.get("pipeline_ratio", 1.0) < PIPELINE_FLAG)
            rows.append(row)
            print(json.dumps(row), flush=True)
    save(f"throughput_all{args.tag}", {"benchmark": "every image method's throughput (issue 21)", "steps": args.steps,
                                       "batch_size": args.batch_size, "rows": rows})


if __name__ == "__main__":
    main()
