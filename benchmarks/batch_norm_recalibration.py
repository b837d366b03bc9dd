"""kNN and linear probe on B1 of a run's saved backbone as saved, then with its batch-norm
statistics recomputed on whole Fashion-MNIST training images (``ssrl.components.batch_norm``).

    python benchmarks/batch_norm_recalibration.py RUN_DIR

Shows what the recomputation does for a backbone pretrained on patches and saved without it
(runs of relative position or jigsaw made before commit bcb5424). Writes
benchmarks/results/batch_norm_recalibration_RUNNAME.json.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import flat_scores, save  # noqa: E402

from ssrl.api import labeled, score  # noqa: E402
from ssrl.components.batch_norm import recompute_batch_norm  # noqa: E402
from ssrl.runs import load_backbone  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    train, test, split = labeled(args.run, "fashion-mnist")  # Rows, at the run's image size
    backbone = load_backbone(args.run)
    before = flat_scores(score(backbone, train, test))
    recompute_batch_norm(backbone, train.rows)
    after = flat_scores(score(backbone, train, test))
    save(f"batch_norm_recalibration_{args.run.name}", {"run": str(args.run), "split": split, "as_saved": before,
                                                          "recomputed_on_whole_images": after})


if __name__ == "__main__":
    main()
