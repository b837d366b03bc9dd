"""SimSiam with and without its stop-gradient (Chen & He 2021, §4.1 and Fig. 2): the variant
without it collapses, and ssrl's collapse monitor must say so.

    python benchmarks/collapse.py --data fashion-mnist --limit 20000 --epochs 15 --tag _15ep

Pretrains both variants with the same seed, records the logged collapse figures of every epoch
(``embedding_std``, ``effective_rank``), whether the run warned
of collapse, and kNN / linear top-1 of each backbone beside the random-init floor; writes
benchmarks/results/collapse_DATA[TAG].json. Three epochs (234 steps) are too few for the variant
without the stop-gradient to get far: the collapse takes some hundreds of steps more
(BENCHMARKS.md, "Collapse monitor").
"""

import argparse
import csv
import shutil
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import flat_scores, save  # noqa: E402

from ssrl.api import pretrain, score  # noqa: E402
from ssrl.data import load_labeled  # noqa: E402
from ssrl.modality import Rows  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402


def run_variant(args, stop_gradient: bool, train, test) -> dict:
    out = Path(args.runs) / f"simsiam-sg{int(stop_gradient)}"
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pretrain(args.data, "simsiam", out=out, epochs=args.epochs, batch_size=args.batch_size,
                       limit=args.limit, seed=args.seed, params={"stop_gradient": stop_gradient}, progress=False)
    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r.get("embedding_std_epoch")]
    return {
        "stop_gradient": stop_gradient,
        "epochs": [{"epoch": int(r["epoch"]), "loss": float(r["loss_epoch"]),
                    "embedding_std": float(r["embedding_std_epoch"]),
                    "effective_rank": float(r["effective_rank_epoch"])} for r in rows],
        "collapse_warnings": [str(w.message) for w in caught if "collapsed" in str(w.message)],
        "pretrained": flat_scores(score(load_backbone(run), train, test, seed=args.seed)),
        "random_init": flat_scores(score(init_backbone(run_config(run)), train, test, seed=args.seed)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--limit", type=int, default=20000, help="pretrain on the first N images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/bench")
    p.add_argument("--variants", default="sg,nosg", help="sg (with the stop-gradient), nosg (without), or both")
    p.add_argument("--tag", default="", help="suffix of the result file")
    args = p.parse_args()
    train, test = (Rows(s.images, s.labels, s.name) for s in load_labeled(args.data)[:2])  # what score takes
    chosen = [v.strip() for v in args.variants.split(",")]
    if not chosen or set(chosen) - {"sg", "nosg"}:
        sys.exit(f"--variants takes sg, nosg or both, not {args.variants!r}")
    variants = [run_variant(args, name == "sg", train, test) for name in chosen]
    save(f"collapse_{args.data}{args.tag}", {"benchmark": "SimSiam collapse", "data": args.data, "epochs": args.epochs,
                                     "limit": args.limit, "batch_size": args.batch_size, "variants": variants})
    for v in variants:
        last = v["epochs"][-1]
        print(f"stop_gradient={v['stop_gradient']!s:<5}  std {last['embedding_std']:.4f}  rank {last['effective_rank']:6.1f}  "
              f"warned at {len(v['collapse_warnings'])} epochs  kNN {v['pretrained']['knn']:.3f} "
              f"(random {v['random_init']['knn']:.3f})  linear {v['pretrained']['linear']:.3f} "
              f"(random {v['random_init']['linear']:.3f})")


if __name__ == "__main__":
    main()
