import pytest
import torch

from ssrl.evaluation.geometry import feature_geometry
from ssrl.evaluation.linear import linear_probe_top1, standardise
from ssrl.evaluation.metrics import balanced_accuracy, classification_metrics, few_classes_warning, is_unbalanced


def test_balanced_accuracy_is_the_mean_per_class_recall_computed_by_hand():
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 0, 0, 0, 1, 1, 0, 2, 0])
    # recalls: class 0 5/6, class 1 1/2, class 2 1/2 -> (5/6 + 1/2 + 1/2) / 3
    assert balanced_accuracy(pred, labels) == pytest.approx((5 / 6 + 0.5 + 0.5) / 3)
    m = classification_metrics(pred, labels)
    assert m["top1"] == pytest.approx(0.7) and m["predicted_classes"] == 3 and m["classes"] == 3


def test_predicting_the_largest_class_everywhere_scores_chance_balanced_and_is_warned_about():
    labels = torch.tensor([0] * 90 + [1] * 5 + [2] * 5)
    m = classification_metrics(torch.zeros(100, dtype=torch.long), labels)
    assert m["top1"] == pytest.approx(0.9) and m["balanced_top1"] == pytest.approx(1 / 3)
    warning = few_classes_warning(m, "the probe")
    assert "the probe predicted only 1 of the 3 classes" in warning and "0.333" in warning
    assert few_classes_warning(classification_metrics(labels, labels), "the probe") is None


def test_unbalanced_when_the_largest_class_is_one_and_a_half_times_the_smallest():
    assert not is_unbalanced(torch.tensor([0, 0, 1, 1, 2, 2]))
    assert is_unbalanced(torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 0, 0, 1, 1]))


def test_feature_geometry_of_aligned_and_spread_features():
    g = torch.Generator().manual_seed(0)
    spread = torch.randn(500, 16, generator=g)
    aligned = spread * 0.01 + 1.0
    assert abs(feature_geometry(spread)["anisotropy"]) < 0.02
    assert feature_geometry(aligned)["anisotropy"] > 0.99
    one_direction = torch.randn(500, 1, generator=g) * torch.ones(1, 16)
    assert feature_geometry(one_direction)["effective_rank"] == pytest.approx(1.0, abs=0.01)
    assert feature_geometry(spread)["effective_rank"] > 12


def test_standardise_uses_the_training_rows_statistics_only():
    train = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    test = torch.tensor([[2.0, 50.0]])
    tr, te = standardise(train, test)
    torch.testing.assert_close(tr, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    torch.testing.assert_close(te, torch.tensor([[0.0, 3.0]]))


def test_the_probe_reads_a_small_signal_beside_a_large_shared_direction():
    # Anisotropic features: L2 normalisation would leave the class signal at 1e-3 of the norm.
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (400,), generator=g)
    x = torch.randn(400, 8, generator=g) * 0.01
    x[:, 0] += (2 * y - 1) * 0.02
    x[:, 1] += 100.0
    assert linear_probe_top1(x[:300], y[:300], x[300:], y[300:], epochs=30) > 0.9
