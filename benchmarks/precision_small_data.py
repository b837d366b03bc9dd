"""Issue 21's accuracy check on B6 sets: float32 against bf16 mixed precision, per method.

Reads the B6 results that ``small_data.py`` saved for one method at both precisions, 3 seeds each:

    python benchmarks/small_data.py --sets digits --methods rotation --seeds 0,1,2 --threads 1 \\
        --option precision=32-true --tag _prec_fp32_rotation
    python benchmarks/small_data.py --sets digits --methods rotation --seeds 0,1,2 --threads 1 \\
        --option precision=bf16-mixed --tag _prec_bf16_rotation
    (fm1k: tags _prec_fm1k_fp32_METHOD, _prec_fm1k_bf16_METHOD; glosses5k for masked_lm)

    python benchmarks/precision_small_data.py --methods rotation,byol,mae,swav,masked_lm

and prints, per method, set and protocol (linear and kNN, balanced accuracy): mean ± std at each
precision, their difference, and the verdict ``agrees``: |mean bf16 − mean fp32| at most the larger
of the two seed stds (the criterion behind ``Pretext.bf16_checked``). Saves
``benchmarks/results/precision_small_data.json``.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS  # noqa: E402

TAGS = ("_prec_{p}_{m}", "_prec_fm1k_{p}_{m}")  # digits or glosses5k; fm1k


def _ms(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 4), "std": round(statistics.stdev(values), 4), "n": len(values)}


def rows_of(method: str, precision: str, tag: str) -> list[dict]:
    path = RESULTS / f"small_data{tag.format(p=precision, m=method)}.json"
    return [r for r in json.loads(path.read_text())["rows"] if "error" not in r] if path.exists() else []


def compare(method: str) -> list[dict]:
    out = []
    for tag in TAGS:
        fp32, bf16 = rows_of(method, "fp32", tag), rows_of(method, "bf16", tag)
        if len(fp32) < 2 or len(bf16) < 2:
            continue
        for protocol in ("linear", "knn"):
            a = _ms([r[protocol]["balanced_top1"] for r in fp32])
            b = _ms([r[protocol]["balanced_top1"] for r in bf16])
            gap = round(b["mean"] - a["mean"], 4)
            out.append({"method": method, "set": fp32[0]["set"], "protocol": protocol, "fp32": a, "bf16": b,
                        "bf16_minus_fp32": gap, "agrees": abs(gap) <= max(a["std"], b["std"]),
                        "gain_over_random_init": {
                            p: _ms([r[protocol]["balanced_top1"] - r[protocol]["random_init_balanced_top1"] for r in rs])
                            for p, rs in (("fp32", fp32), ("bf16", bf16))}})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="rotation,byol,mae,swav,masked_lm")
    args = p.parse_args()
    table = [row for m in args.methods.split(",") for row in compare(m)]
    for r in table:
        g = r["gain_over_random_init"]
        print(f"{r['method']:10} {r['set']:9} {r['protocol']:6} fp32 {r['fp32']['mean']:.3f} ± {r['fp32']['std']:.3f}  "
              f"bf16 {r['bf16']['mean']:.3f} ± {r['bf16']['std']:.3f}  {r['bf16_minus_fp32']:+.3f}  "
              f"{'agrees' if r['agrees'] else 'DIFFERS'}  gain fp32 {g['fp32']['mean']:+.3f} ± {g['fp32']['std']:.3f}, "
              f"bf16 {g['bf16']['mean']:+.3f} ± {g['bf16']['std']:.3f}")
    verdicts = {m: all(r["agrees"] for r in table if r["method"] == m) for m in args.methods.split(",")
                if any(r["method"] == m for r in table)}
    (RESULTS / "precision_small_data.json").write_text(json.dumps({"rows": table, "agrees": verdicts}, indent=1))
    print(verdicts)


if __name__ == "__main__":
    main()
