"""Issue 21's accuracy proof: does bf16 mixed precision change what B1 measures?

For each method, precision (``32-true``, ``bf16-mixed``) and seed, one B1 run
(``benchmarks/fashion_mnist.py --methods M --epochs E --precision P --seed S``, each in its own
process, saved as ``fashion_mnist_M_Eep_P_sS.json``; a result already saved is reused, so a
killed invocation resumes). Then, per method and precision over the seeds: mean ± sample std of
kNN and linear top-1. The verdict per method, ``agrees``: |mean bf16 − mean fp32| is at most the
larger of the two seed stds (the criterion ``Pretext.bf16_checked`` is set from).

    python benchmarks/precision_accuracy.py --methods simclr,rotation --seeds 0,1,2
    python benchmarks/precision_accuracy.py --methods simclr --seeds 0 --limit 2048 --epochs 1 --tag _smoke

Result: ``benchmarks/results/precision_accuracy{TAG}.json`` (every run's figures, the summary).
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save  # noqa: E402

PRECISIONS = ("32-true", "bf16-mixed")


def run_name(method: str, epochs: int, precision: str, seed: int, tag: str) -> str:
    return f"fashion_mnist_{method}_{epochs}ep_{precision}_s{seed}{tag}"


def one_run(method: str, precision: str, seed: int, args) -> dict:
    path = RESULTS / f"{run_name(method, args.epochs, precision, seed, args.tag)}.json"
    if not path.exists():
        cmd = [sys.executable, str(Path(__file__).parent / "fashion_mnist.py"), "--methods", method,
               "--epochs", str(args.epochs), "--precision", precision, "--seed", str(seed),
               "--tag", f"_{precision}_s{seed}{args.tag}", "--runs", args.runs]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return json.loads(path.read_text())


def mean_std(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else None, "n": len(values)}


def summarise(runs: list[dict]) -> dict:
    summary = {}
    for method in sorted({r["method"] for r in runs}):
        by = {p: [r for r in runs if r["method"] == method and r["precision"] == p] for p in PRECISIONS}
        entry = {}
        for protocol in ("knn", "linear"):
            stats = {p: mean_std([r["pretrained"][protocol] for r in by[p]]) for p in PRECISIONS if by[p]}
            if len(stats) == 2 and all(s["std"] is not None for s in stats.values()):
                gap = stats["bf16-mixed"]["mean"] - stats["32-true"]["mean"]
                stats["bf16_minus_fp32"] = round(gap, 4)
                stats["agrees"] = abs(gap) <= max(s["std"] for s in stats.values() if isinstance(s, dict))
            entry[protocol] = stats
        entry["img_s_end_to_end"] = {p: mean_std([r["throughput_end_to_end"] for r in by[p]]) for p in PRECISIONS
                                     if by[p]}
        entry["agrees"] = all(entry[p].get("agrees", False) for p in ("knn", "linear"))
        summary[method] = entry
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="simclr,rotation")
    p.add_argument("--seeds", default="0,1,2", type=lambda s: [int(v) for v in s.split(",")])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="pretrain on the first N images only (smoke runs)")
    p.add_argument("--runs", default="runs/precision")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    runs = [one_run(m, prec, s, args) for m in args.methods.split(",") for s in args.seeds for prec in PRECISIONS]
    summary = summarise(runs)
    save(f"precision_accuracy{args.tag}", {"benchmark": "B1, fp32 against bf16-mixed", "epochs": args.epochs,
                                           "seeds": args.seeds, "summary": summary, "runs": runs})
    for method, e in summary.items():
        for protocol in ("knn", "linear"):
            st = e[protocol]
            print(f"{method:10s} {protocol:6s} " + "  ".join(
                f"{prec} {st[prec]['mean']:.4f} ± {st[prec]['std'] or 0:.4f}" for prec in PRECISIONS if prec in st)
                + f"  agrees: {st.get('agrees')}")


if __name__ == "__main__":
    main()
