"""Few-shot evaluation: a class-balanced few of the labels, several seeded draws, mean ± std,
with both baselines beside every figure.

For each setting (a fraction of the labels, or N per class) and each draw, the same labeled
images are given to three models:

- the pretrained h_θ with a classifier g_φ: a linear probe on frozen features (cheap; the B1
  protocol) or, with ``classifier="finetune"``, the whole network fine-tuned;
- the same backbone at its random initialization, with the same classifier (the floor);
- a supervised model trained from scratch: the same architecture from the same random init, all
  weights trained with one learning rate, the same epochs, batch size and augmentation that
  fine-tuning gets. It answers "did pretraining save labels, or would plain training on the
  few labels have done as well?".

Standard deviations are over draws with Bessel's correction (0 for a single draw).
"""

import statistics
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from ssrl.data import stratified_split
from ssrl.errors import SsrlError
from ssrl.evaluation.features import FLOAT32, Extraction, extract_features
from ssrl.evaluation.finetune import finetune_predict
from ssrl.evaluation.linear import linear_probe_predict
from ssrl.evaluation.metrics import classification_metrics, few_classes_warning, num_classes

CLASSIFIERS = ("linear", "finetune")


@dataclass
class TrainBudget:
    """What every trained model gets (fine-tuned and from scratch alike)."""

    epochs: int = 50
    lr_backbone: float = 1e-3    # h_θ; 1e-4 fine-tuned 600 Fashion-MNIST labels worse (BENCHMARKS.md, "Issue 7")
    lr_head: float = 1e-3        # a fresh g_φ; also the one learning rate of the from-scratch model
    batch_size: int = 64
    weight_decay: float = 1e-4
    augment: bool = True         # images: random resized crop (50-100%) + left-right flip, see supervised_views


@dataclass(frozen=True)
class Setting:
    """How many labels: ``fraction`` of each class, or ``per_class`` images of each (one is set)."""

    fraction: float | None = None
    per_class: int | None = None

    def __post_init__(self):
        if (self.fraction is None) == (self.per_class is None):
            raise SsrlError("give either a label fraction or a number of labels per class")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise SsrlError(f"label fraction must be in (0, 1], got {self.fraction}")
        if self.per_class is not None and self.per_class < 1:
            raise SsrlError(f"labels per class must be at least 1, got {self.per_class}")

    def draw(self, labels: torch.Tensor, seed: int) -> torch.Tensor:
        """Sorted indices of a class-balanced draw from ``labels``, deterministic in ``seed``."""
        if self.fraction is not None:
            return stratified_split(labels, self.fraction, seed)[1]
        g = torch.Generator().manual_seed(seed)
        picked = []
        for c in torch.unique(labels):  # sorted: the generator is consumed in a fixed order
            members = torch.nonzero(labels == c).flatten()
            picked.append(members[torch.randperm(len(members), generator=g)[:self.per_class]])
        return torch.cat(picked).sort().values

    def describe(self) -> str:
        return f"{self.fraction:g} of the labels" if self.fraction is not None else f"{self.per_class} per class"


def fewshot_point(pretrained: nn.Module, random_init: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor,
                  test_x: torch.Tensor, test_y: torch.Tensor, setting: Setting, *, draws: int = 3, seed: int = 0,
                  classifier: str = "linear", budget: TrainBudget | None = None,
                  augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  device: str | torch.device | None = None, progress: bool = False,
                  how: Extraction = FLOAT32) -> dict:
    """Top-1 and balanced accuracy of the pretrained backbone, the random-init backbone and the
    from-scratch model on ``draws`` class-balanced draws (draw d uses seed ``seed + d`` for both
    the labels and the training), as per-draw lists and their mean and std, and ``warnings`` for
    a model that predicted only a few of the classes on some draw. Frozen features are computed
    as ``how`` says (the run's autocast and memory format)."""
    if classifier not in CLASSIFIERS:
        raise SsrlError(f"unknown few-shot classifier {classifier!r}; choose one of: {', '.join(CLASSIFIERS)}")
    if draws < 1:
        raise SsrlError(f"--draws must be at least 1, got {draws}")
    budget = budget or TrainBudget()
    picks = [setting.draw(train_y, seed + d) for d in range(draws)]
    frozen = {}
    if classifier == "linear":  # features of the test set and of the drawn images, computed once
        needed = torch.unique(torch.cat(picks))
        for name, who, net in (("", "pretrained", pretrained), ("random_init_", "random init", random_init)):
            feats = extract_features(net, train_x[needed], device=device, progress=progress and f"{who}: labeled "
                                     "features", how=how)
            test_f = extract_features(net, test_x, device=device, progress=progress and f"{who}: test features", how=how)
            frozen[name] = (dict(zip(needed.tolist(), feats)), test_f)
    classes = num_classes(train_y, test_y)
    preds = {"": [], "random_init_": [], "scratch_": []}  # per model, one prediction (N_test,) per draw
    for d, idx in enumerate(picks):
        x, y = train_x[idx], train_y[idx]
        train = dict(epochs=budget.epochs, batch_size=budget.batch_size, seed=seed + d, augment=augment,
                     weight_decay=budget.weight_decay, device=device, progress=progress)
        preds["scratch_"].append(finetune_predict(random_init, x, y, test_x, classes, lr_backbone=budget.lr_head,
                                                  lr_head=budget.lr_head, **train))
        for name, net in (("", pretrained), ("random_init_", random_init)):
            if classifier == "linear":
                bank, test_f = frozen[name]
                train_f = torch.stack([bank[i] for i in idx.tolist()])
                preds[name].append(linear_probe_predict(train_f, y, test_f, classes, seed=seed + d))
            elif net is random_init and budget.lr_backbone == budget.lr_head:
                preds[name].append(preds["scratch_"][-1])  # the very same training: not run twice
            else:
                preds[name].append(finetune_predict(net, x, y, test_x, classes, lr_backbone=budget.lr_backbone,
                                                    lr_head=budget.lr_head, **train))
    out = {**asdict(setting), "n_labels": len(picks[0]), "draws": draws, "seeds": [seed + d for d in range(draws)],
           "classifier": classifier, "budget": asdict(budget)}
    warnings = []
    for prefix, per_draw in preds.items():
        metrics = [classification_metrics(p, test_y) for p in per_draw]
        for figure in ("top1", "balanced_top1"):
            values = [m[figure] for m in metrics]
            out[prefix + figure] = values
            out[f"{prefix}{figure}_mean"] = statistics.fmean(values)
            out[f"{prefix}{figure}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        who = {"": "the pretrained", "random_init_": "the random-init", "scratch_": "the from-scratch"}[prefix]
        fewest = min(metrics, key=lambda m: m["predicted_classes"])
        warnings.append(few_classes_warning(fewest, f"{who} classifier ({setting.describe()}, worst draw)"))
    out["warnings"] = [w for w in warnings if w]
    return out
