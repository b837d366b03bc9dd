import math

import pytest
import torch
import torch.nn.functional as F

from ssrl.evaluation import knn_predict, knn_top1


def knn_reference(bank, bank_labels, query, num_classes, k, temperature):
    """Loop form of weighted kNN: the k most cosine-similar bank items vote exp(sim / T)."""
    preds = []
    for q in query:
        sims = [F.cosine_similarity(q, b, dim=0).item() for b in bank]
        top = sorted(range(len(bank)), key=lambda i: -sims[i])[:k]
        votes = [0.0] * num_classes
        for i in top:
            votes[int(bank_labels[i])] += math.exp(sims[i] / temperature)
        preds.append(max(range(num_classes), key=lambda c: votes[c]))
    return torch.tensor(preds)


@pytest.mark.parametrize("k", [1, 5, 200])
def test_knn_matches_loop_reference(k):
    g = torch.Generator().manual_seed(k)
    bank, query = torch.randn(40, 6, generator=g), torch.randn(15, 6, generator=g)
    labels = torch.randint(0, 3, (40,), generator=g)
    fast = knn_predict(bank, labels, query, 3, k=k, temperature=0.1, chunk=4)
    assert fast.tolist() == knn_reference(bank, labels, query, 3, k, 0.1).tolist()


def test_weights_let_one_close_neighbour_outvote_two_far_ones():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.05]])
    # sims ≈ 1.0 for class 0 and ≈ 0.05, 0.15 for class 1: exp(10) > exp(0.5) + exp(1.5).
    assert knn_predict(bank, labels, query, 2, k=3, temperature=0.1).item() == 0
    # With a large temperature the weights flatten and the majority wins.
    assert knn_predict(bank, labels, query, 2, k=3, temperature=100.0).item() == 1


def test_knn_top1_is_a_fraction():
    bank = torch.eye(4)
    labels = torch.arange(4)
    assert knn_top1(bank, labels, bank, labels, k=1) == 1.0
    assert knn_top1(bank, labels, bank, (labels + 1) % 4, k=1) == 0.0
