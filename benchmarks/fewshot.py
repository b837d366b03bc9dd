"""Few-shot / label-efficiency on Fashion-MNIST (B1): a pretrained run's backbone with a class-balanced
few of the 60,000 training labels, beside the same backbone at random init and a supervised model
trained from scratch on the same labels with the same budget; test on the 10,000 test images.

    SSRL_DATA_DIR=/path/to/fashion-mnist OMP_NUM_THREADS=1 \\
        python benchmarks/fewshot.py --run /tmp/runs/fm-simclr --label-fractions 0.01 --draws 3

It calls ``ssrl.evaluate(RUN, "fashion-mnist", "fewshot", ...)``, exactly what ``ssrl evaluate
--protocol fewshot`` runs, and writes benchmarks/results/fewshot_fashion_mnist_NAME_CLASSIFIER_FRACTIONS.json
(with several fractions, the label-efficiency plot is copied beside it).

``--validation`` chooses the budget without touching the test set: the labels are drawn from the
first 50,000 training images and every model is scored on the last 10,000 (the result file gets
``_validation``); compare budgets that way, then run the chosen one without the flag.
"""

import argparse
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, save  # noqa: E402

import ssrl  # noqa: E402
from ssrl.api import labeled  # noqa: E402
from ssrl.evaluation.fewshot import Setting, TrainBudget, fewshot_point  # noqa: E402
from ssrl.modality import get_modality  # noqa: E402
from ssrl.runs import init_backbone, load_backbone, run_config  # noqa: E402

VALIDATION = 10_000  # the last training images, scored instead of the test set with --validation


def validation_fewshot(run: str, fractions: list[float], draws: int, classifier: str, budget: TrainBudget) -> dict:
    """``ssrl.evaluate``'s few-shot protocol with the labels drawn from the first 50,000 training
    images and the scores taken on the last 10,000 (fractions are of the 50,000)."""
    cfg = run_config(run)
    train = labeled(run, "fashion-mnist")[0]  # Rows at the run's image size
    pool, held = slice(0, len(train) - VALIDATION), slice(len(train) - VALIDATION, None)
    augment = get_modality(cfg.modality).finetune_views(budget.augment)  # as ssrl.evaluate's fewshot
    points = [fewshot_point(load_backbone(run), init_backbone(cfg), train.rows[pool], train.labels[pool],
                            train.rows[held], train.labels[held], Setting(fraction=f), draws=draws,
                            classifier=classifier, budget=budget, augment=augment, progress=True)
              for f in fractions]
    return {"run": run, "split": f"validation: the last {VALIDATION} training images", "points": points,
            **(points[0] if len(points) == 1 else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--name", help="names the result file (default: the run directory's name)")
    parser.add_argument("--label-fractions", default="0.01")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--classifier", default="linear", choices=["linear", "finetune"])
    defaults = TrainBudget()
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--lr-backbone", type=float, default=defaults.lr_backbone)
    parser.add_argument("--lr-head", type=float, default=defaults.lr_head)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--validation", action="store_true", help="score on the last 10,000 training images")
    args = parser.parse_args()
    fractions = [float(f) for f in args.label_fractions.split(",")]
    budget = TrainBudget(epochs=args.epochs, lr_backbone=args.lr_backbone, lr_head=args.lr_head,
                         batch_size=args.batch_size)
    start = time.monotonic()
    if args.validation:
        result = validation_fewshot(args.run, fractions, args.draws, args.classifier, budget)
    else:
        result = ssrl.evaluate(args.run, "fashion-mnist", "fewshot", label_fractions=fractions, draws=args.draws,
                               classifier=args.classifier, budget=budget, progress=True)
    result["wall_seconds"] = round(time.monotonic() - start, 1)
    result["pretraining"] = {k: v for k, v in asdict(run_config(args.run)).items()
                             if k in ("method", "backbone", "epochs", "batch_size", "seed")}
    name = (f"fewshot_fashion_mnist_{args.name or Path(args.run).name}_{args.classifier}_"
            + "_".join(f"{f:g}" for f in fractions) + ("_validation" if args.validation else ""))
    if "plot" in result:
        RESULTS.mkdir(exist_ok=True)
        shutil.copy(result["plot"], RESULTS / f"{name}.png")
    save(name, result)


if __name__ == "__main__":
    main()
