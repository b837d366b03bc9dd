"""SimSiam with and without its stop-gradient (Chen & He 2021, §4.1 and Fig. 2): the variant
without it collapses, and ssrl's collapse monitor must say so.

    python benchmarks/collapse.py --data fashion-mnist --limit 5000 --epochs 40 --tag _5k40ep

Pretrains each variant with the same seed: ``sg`` (the method), ``nosg`` (the paper's ablation)
and ``nosg-nobn`` (the ablation without the batch norm on the projector's output, whose
per-dimension unit variance keeps the output from collapsing to a point); records the logged
collapse figures of every epoch (``embedding_std``, ``effective_rank``), the collapse warnings,
and kNN / linear top-1 of each backbone beside the random-init floor; writes
benchmarks/results/collapse_DATA[TAG].json. Without the stop-gradient the output collapses within
a few hundred steps; what that does to the backbone depends on the output batch norm
(BENCHMARKS.md, "The stop-gradient experiment").
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


VARIANTS = {  # SimSiam's parameters of each variant
    "sg": {"stop_gradient": True},                          # the method as the paper gives it
    "nosg": {"stop_gradient": False},                       # the paper's ablation
    "nosg-nobn": {"stop_gradient": False, "output_bn": False},  # and no batch norm on the projector's output
}


def run_variant(args, name: str, train, test) -> dict:
    out = Path(args.runs) / f"simsiam-{name}"
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pretrain(args.data, "simsiam", out=out, epochs=args.epochs, batch_size=args.batch_size,
                       limit=args.limit or None, seed=args.seed, params=VARIANTS[name], progress=False)
    rows = [r for r in csv.DictReader(open(run / "metrics.csv")) if r.get("embedding_std_epoch")]
    return {
        "variant": name, **VARIANTS[name],
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
    p.add_argument("--variants", default="sg,nosg,nosg-nobn",
                   help="sg (with the stop-gradient), nosg (without), nosg-nobn (without, and no batch norm on "
                        "the projector's output), comma-separated")
    p.add_argument("--tag", default="", help="suffix of the result file")
    args = p.parse_args()
    train, test = (Rows(s.images, s.labels, s.name) for s in load_labeled(args.data)[:2])  # what score takes
    chosen = [v.strip() for v in args.variants.split(",")]
    if not chosen or set(chosen) - set(VARIANTS):
        sys.exit(f"--variants takes some of {', '.join(VARIANTS)}, not {args.variants!r}")
    variants = [run_variant(args, name, train, test) for name in chosen]
    save(f"collapse_{Path(args.data).name}{args.tag}", {"benchmark": "SimSiam collapse", "data": args.data, "epochs": args.epochs,
                                     "limit": args.limit, "batch_size": args.batch_size, "variants": variants})
    for v in variants:
        last = v["epochs"][-1]
        print(f"{v['variant']:<10} std {last['embedding_std']:.4f}  rank {last['effective_rank']:6.1f}  "
              f"warned at {len(v['collapse_warnings'])} epochs  kNN {v['pretrained']['knn']:.3f} "
              f"(random {v['random_init']['knn']:.3f})  linear {v['pretrained']['linear']:.3f} "
              f"(random {v['random_init']['linear']:.3f})")


if __name__ == "__main__":
    main()
