import statistics

import pytest
import torch
from torch import nn

from ssrl.errors import SsrlError
from ssrl.evaluation.features import extract_features
from ssrl.evaluation.fewshot import Setting, TrainBudget, fewshot_point
from ssrl.evaluation.finetune import finetune_predict, finetune_top1
from ssrl.evaluation.linear import linear_probe_top1
from tests.evaluation.tiny import TinyConvNet, quadrant_images

BUDGET = TrainBudget(epochs=4, lr_backbone=1e-3, lr_head=1e-2, batch_size=8, augment=False)


class QuadrantMeans(nn.Module):
    """A 'pretrained' h_θ whose features are the four quadrant means: perfect for quadrant_images."""

    dim = 4

    def __init__(self):
        super().__init__()
        self.pool = nn.Conv2d(1, 4, 8, bias=False)
        with torch.no_grad():
            self.pool.weight.zero_()
            for c, (r, col) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
                self.pool.weight[c, 0, r:r + 4, col:col + 4] = 1 / 16

    def forward(self, x):
        return self.pool(x).flatten(1) - 0.5


def test_per_class_draw_is_balanced_deterministic_and_seeded():
    labels = torch.arange(5).repeat_interleave(20)
    idx = Setting(per_class=3).draw(labels, seed=1)
    assert torch.bincount(labels[idx]).tolist() == [3] * 5
    assert torch.equal(idx, Setting(per_class=3).draw(labels, seed=1))
    assert not torch.equal(idx, Setting(per_class=3).draw(labels, seed=2))
    assert len(idx.unique()) == 15 and torch.equal(idx, idx.sort().values)


def test_fraction_draw_takes_that_share_of_each_class():
    labels = torch.cat([torch.zeros(200), torch.ones(100)]).long()
    idx = Setting(fraction=0.05).draw(labels, seed=0)
    assert torch.bincount(labels[idx]).tolist() == [10, 5]


@pytest.mark.parametrize("kwargs", [{}, {"fraction": 0.1, "per_class": 2}, {"fraction": 0.0}, {"per_class": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(SsrlError):
        Setting(**kwargs)


def test_point_reports_each_draw_with_mean_and_sample_std():
    (xtr, ytr), (xte, yte) = quadrant_images(10, 0), quadrant_images(5, 1)
    torch.manual_seed(0)
    pretrained, random_init = QuadrantMeans(), TinyConvNet()
    point = fewshot_point(pretrained, random_init, xtr, ytr, xte, yte, Setting(per_class=2), draws=3, seed=4,
                          budget=BUDGET, device="cpu")
    assert point["n_labels"] == 8 and point["seeds"] == [4, 5, 6] and point["per_class"] == 2
    for key in ("top1", "random_init_top1", "scratch_top1"):
        assert len(point[key]) == 3
        assert point[f"{key}_mean"] == pytest.approx(statistics.fmean(point[key]))
        assert point[f"{key}_std"] == pytest.approx(statistics.stdev(point[key]))
    assert point["top1"] == [1.0, 1.0, 1.0]  # perfect features, two labels per class suffice

    # Each figure is what the protocol itself gives on that draw's labels (draw d: seed 4 + d).
    idx = Setting(per_class=2).draw(ytr, seed=5)
    f_tr, f_te = extract_features(random_init, xtr[idx], device="cpu"), extract_features(random_init, xte, device="cpu")
    assert point["random_init_top1"][1] == linear_probe_top1(f_tr, ytr[idx], f_te, yte, seed=5)
    scratch = finetune_top1(random_init, xtr[idx], ytr[idx], xte, yte, epochs=4, lr_backbone=1e-2, lr_head=1e-2,
                            batch_size=8, seed=5, device="cpu", weight_decay=BUDGET.weight_decay)
    assert point["scratch_top1"][1] == scratch


def test_fine_tuned_classifier_and_a_single_draw():
    (xtr, ytr), (xte, yte) = quadrant_images(10, 0), quadrant_images(5, 1)
    torch.manual_seed(0)
    point = fewshot_point(QuadrantMeans(), TinyConvNet(), xtr, ytr, xte, yte, Setting(fraction=0.5), draws=1,
                          classifier="finetune", budget=BUDGET, device="cpu")
    assert point["classifier"] == "finetune" and point["n_labels"] == 20
    assert point["top1_std"] == 0.0 and len(point["scratch_top1"]) == 1
    with pytest.raises(SsrlError, match="classifier"):
        fewshot_point(QuadrantMeans(), TinyConvNet(), xtr, ytr, xte, yte, Setting(per_class=1), classifier="svm")


def test_with_equal_learning_rates_the_random_init_fine_tune_is_the_scratch_model_trained_once(monkeypatch):
    import ssrl.evaluation.fewshot as fewshot

    (xtr, ytr), (xte, yte) = quadrant_images(10, 0), quadrant_images(5, 1)
    calls = []
    monkeypatch.setattr(fewshot, "finetune_predict", lambda net, *a, **kw: calls.append(net) or finetune_predict(net, *a, **kw))
    random_init = TinyConvNet()
    equal = TrainBudget(epochs=2, lr_backbone=1e-2, lr_head=1e-2, batch_size=8, augment=False)
    point = fewshot_point(QuadrantMeans(), random_init, xtr, ytr, xte, yte, Setting(fraction=0.5), draws=2,
                          classifier="finetune", budget=equal, device="cpu")
    assert len(calls) == 4 and sum(net is random_init for net in calls) == 2  # per draw: scratch, pretrained
    assert point["random_init_top1"] == point["scratch_top1"]
    separate = TrainBudget(epochs=2, lr_backbone=1e-3, lr_head=1e-2, batch_size=8, augment=False)
    fewshot_point(QuadrantMeans(), random_init, xtr, ytr, xte, yte, Setting(fraction=0.5), draws=1,
                  classifier="finetune", budget=separate, device="cpu")
    assert len(calls) == 7  # unequal rates: the random-init fine-tune is a different model, trained too
