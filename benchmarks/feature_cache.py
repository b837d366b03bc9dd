"""Issue 24: a second ``ssrl evaluate`` of the same run and data reads its frozen features back
from ``RUN/features/`` (``ssrl.evaluation.feature_cache``). Times ``ssrl evaluate RUN --data DATA
--protocol knn --json`` end to end as fresh processes: per round, on a fresh copy of the run
(no cache), once cold and then once warm, and checks that both print the same figures. The load
average is recorded before each round. Writes benchmarks/results/feature_cache[_TAG].json.

    python benchmarks/feature_cache.py RUN_DIR [--data fashion-mnist] [--rounds 2] [--tag _x]
"""

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import save  # noqa: E402
from eval_speed import end_to_end, load_average  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tag", default="")
    args = p.parse_args()
    rounds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(shutil.copytree(args.run, Path(tmp) / "run", ignore=shutil.ignore_patterns("features")))
            load = load_average()
            cold, warm = end_to_end(run, args.data, None), end_to_end(run, args.data, None)
            rounds.append({"load_before": load, "cold": cold, "warm": warm,
                           "same_figures": (cold["top1"], cold["random_init_top1"]) == (warm["top1"],
                                                                                         warm["random_init_top1"])})
            print(rounds[-1], flush=True)
    cold_s, warm_s = (statistics.median(r[k]["s"] for r in rounds) for k in ("cold", "warm"))
    save(f"feature_cache{args.tag}", {"run": args.run, "data": args.data, "rounds": rounds, "cold_s": cold_s,
                                      "warm_s": warm_s, "speedup": round(cold_s / warm_s, 2),
                                      "all_same_figures": all(r["same_figures"] for r in rounds)})


if __name__ == "__main__":
    main()
