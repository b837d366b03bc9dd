import math

import pytest
import torch

from ssrl.losses import soft_nearest_neighbours
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import soft_nearest_neighbours_reference


@pytest.mark.parametrize(
    "labels",
    # the last two include samples with no same-label partner, which are left out
    [[0, 0], [0, 1, 0, 1], [3, 3, 3, 1, 1, 2, 2, 2], [0, 0, 1], [4, 0, 4, 1, 2, 1, 4]],
)
@pytest.mark.parametrize("temperature", [0.1, 1.0, 5.0])
def test_snn_matches_reference(labels, temperature):
    labels = torch.tensor(labels)
    x = randn(len(labels), 3, seed=len(labels))
    assert_matches_reference(
        lambda e: soft_nearest_neighbours(e, labels, temperature),
        lambda e: soft_nearest_neighbours_reference(e, labels, temperature),
        [x],
    )


@pytest.mark.parametrize(
    "labels,expected",
    [
        # All points coincide, so every neighbour is equally likely: a sample of a class of
        # n_c among N has the term log((N - 1) / (n_c - 1)).
        ([0, 0, 0, 1, 1], (3 * math.log(4 / 2) + 2 * math.log(4 / 1)) / 5),
        ([0, 0, 1, 1], math.log(3)),
        ([0, 0, 1], math.log(2)),  # the lone sample 2 is left out of the mean
        ([2, 2, 2], 0.0),  # one class: every neighbour is a same-class one
    ],
)
def test_snn_coincident_points(labels, expected):
    x = torch.ones(len(labels), 2, requires_grad=True)
    loss = soft_nearest_neighbours(x, torch.tensor(labels), temperature=0.7)
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()


def test_snn_is_stable_at_small_temperature():
    # 1-D points 0, 1, 3 with labels 0, 1, 0. Sample 0: -log(e^{-9/T} / (e^{-1/T} + e^{-9/T}))
    # = log(1 + e^{8/T}); sample 2: log(1 + e^{5/T}); sample 1 has no partner. At T = 0.01
    # the exponentials underflow, the logsumexp form gives ≈ (800 + 500) / 2.
    x = torch.tensor([[0.0], [1.0], [3.0]], requires_grad=True)
    loss = soft_nearest_neighbours(x, torch.tensor([0, 1, 0]), temperature=0.01)
    assert loss.item() == pytest.approx(650.0, rel=1e-6)
    assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()


def test_snn_rejects_bad_inputs():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="embeddings"):
        soft_nearest_neighbours(torch.randn(4), torch.zeros(4))
    with pytest.raises(ValueError, match="labels"):
        soft_nearest_neighbours(x, torch.zeros(3))
    with pytest.raises(ValueError, match="temperature"):
        soft_nearest_neighbours(x, torch.zeros(4), temperature=0.0)
    with pytest.raises(ValueError, match="no label occurs twice"):
        soft_nearest_neighbours(x, torch.arange(4))
    with pytest.raises(ValueError, match="no label occurs twice"):
        soft_nearest_neighbours(torch.randn(1, 2), torch.zeros(1))
