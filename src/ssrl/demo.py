"""``ssrl demo``: the whole story on data every install has, in about a minute on a CPU.

Pretrains on the 8×8 handwritten digits that scikit-learn ships (real scans, no download):
80% of them as unlabeled D_s, the other 20% held out as the test set. Then it evaluates kNN and
a linear probe using only 10% of the training labels, for the pretrained backbone and for the
same backbone at its random initialization.
"""

import shutil
from pathlib import Path

import numpy as np

from ssrl.api import labeled, pretrain, score
from ssrl.data import load_labeled
from ssrl.evaluation.records import save_evaluation
from ssrl.report import write_report
from ssrl.runs import init_backbone, load_backbone, run_config

DEMO_METHOD = "simclr"
DEMO_EPOCHS = 30


def demo(out: str | Path = "runs/demo", method: str = DEMO_METHOD, epochs: int = DEMO_EPOCHS, seed: int = 0,
         label_fraction: float = 0.1, progress: bool = True) -> dict:
    """Run the demo; returns {"pretrained": {"knn", "linear"}, "random_init": {...}, ...}."""
    out = Path(out)
    shutil.rmtree(out / method, ignore_errors=True)  # the demo is disposable: each call starts afresh
    out.mkdir(parents=True, exist_ok=True)
    train, test, split = load_labeled("digits", seed=seed)
    data = out / "digits.npz"  # the split, saved so the run directory says exactly what it used
    np.savez(data, x_train=train.images.numpy(), y_train=train.labels.numpy(),
             x_test=test.images.numpy(), y_test=test.labels.numpy())
    # 8 px leave little to crop: milder crops than the defaults (and no flips: the data decides
    # that, digits being unlike their mirror images, ``ssrl.data.mirror``).
    run = pretrain(str(data), method, out=out / method, epochs=epochs, batch_size=256, seed=seed,
                   views={"crop_scale": (0.4, 1.0)}, log_every_n_steps=5, progress=progress)
    cfg = run_config(run)
    d_t, test, note = labeled(run, str(data), label_fraction=label_fraction, seed=seed)
    result = {
        "pretrained": score(load_backbone(run), d_t, test, seed=seed),
        "random_init": score(init_backbone(cfg), d_t, test, seed=seed),
        "method": method, "epochs": epochs, "run": str(run), "labeled": len(d_t), "test": len(test),
        "split": split,
    }
    for protocol in ("knn", "linear"):  # the run's report shows them beside its training curves
        save_evaluation(run, protocol, str(data), {
            "protocol": protocol, "data": str(data), "split": note, "label_fraction": label_fraction,
            **{prefix + key: result[who][protocol][key] for who, prefix in (("pretrained", ""),
                                                                             ("random_init", "random_init_"))
               for key in ("top1", "balanced_top1")}})
    result["report"] = str(write_report(run))
    return result
