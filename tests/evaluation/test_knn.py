import math

import pytest
import torch
import torch.nn.functional as F

from ssrl.evaluation import knn_predict, knn_top1
from ssrl.evaluation.knn import adapted_k


def knn_reference(bank, bank_labels, query, num_classes, k, temperature):
    """Loop form of weighted kNN: every vector minus the bank's mean, then the k most
    cosine-similar bank items vote exp(sim / T)."""
    mean = sum(bank) / len(bank)
    bank, query = [b - mean for b in bank], [q - mean for q in query]
    preds = []
    for q in query:
        sims = [F.cosine_similarity(q, b, dim=0).item() for b in bank]
        top = sorted(range(len(bank)), key=lambda i: -sims[i])[:k]
        votes = [0.0] * num_classes
        for i in top:
            votes[int(bank_labels[i])] += math.exp(sims[i] / temperature)
        preds.append(max(range(num_classes), key=lambda c: votes[c]))
    return torch.tensor(preds)


@pytest.mark.parametrize("faiss_over", [10_000, 0], ids=["dense", "faiss"])
@pytest.mark.parametrize("k", [1, 5, 200])
def test_knn_matches_loop_reference(k, faiss_over):
    g = torch.Generator().manual_seed(k)
    bank, query = torch.randn(40, 6, generator=g), torch.randn(15, 6, generator=g)
    labels = torch.randint(0, 3, (40,), generator=g)
    fast = knn_predict(bank, labels, query, 3, k=k, temperature=0.1, chunk=4, faiss_over=faiss_over)
    assert fast.tolist() == knn_reference(bank, labels, query, 3, k, 0.1).tolist()


def test_faiss_and_dense_search_agree_on_a_larger_bank():
    g = torch.Generator().manual_seed(0)
    bank, query = torch.randn(3000, 16, generator=g), torch.randn(500, 16, generator=g)
    labels = torch.randint(0, 10, (3000,), generator=g)
    dense = knn_predict(bank, labels, query, 10, k=50)
    assert torch.equal(knn_predict(bank, labels, query, 10, k=50, faiss_over=0), dense)


def test_weights_let_one_close_neighbour_outvote_two_far_ones():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    bank = bank - bank.mean(0) + 5.0  # a shared offset: centring on the bank's mean removes it
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.05]]) - torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]).mean(0) + 5.0
    # sims ≈ 1.0 for class 0 and ≈ 0.05, 0.15 for class 1: exp(10) > exp(0.5) + exp(1.5).
    assert knn_predict(bank, labels, query, 2, k=3, temperature=0.1).item() == 0
    # With a large temperature the weights flatten and the majority wins.
    assert knn_predict(bank, labels, query, 2, k=3, temperature=100.0).item() == 1


def test_knn_top1_is_a_fraction():
    bank = torch.eye(4)
    labels = torch.arange(4)
    assert knn_top1(bank, labels, bank, labels, k=1) == 1.0
    assert knn_top1(bank, labels, bank, (labels + 1) % 4, k=1) == 0.0


def test_centring_lets_features_that_all_point_one_way_be_told_apart():
    # Every feature is a large shared direction plus a small class signal: uncentred cosine
    # similarities are all about 1 and the vote is decided by the larger class.
    g = torch.Generator().manual_seed(0)
    signal = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    labels = torch.tensor([0] * 5 + [1] * 30)
    bank = 100 * torch.tensor([0.0, 1.0]) + signal[labels] + 0.1 * torch.randn(35, 2, generator=g)
    query = 100 * torch.tensor([0.0, 1.0]) + signal[torch.tensor([0, 1])]
    assert knn_predict(bank, labels, query, 2, k=10).tolist() == [0, 1]


@pytest.mark.parametrize("counts, k", [([6000] * 10, 200),        # the protocol's k on large banks
                                       ([17, 540, 300], 17),        # the smallest class
                                       ([3, 40, 50], 10),           # never below 10 ...
                                       ([2, 3], 5)])                # ... unless the bank is smaller
def test_adapted_k_is_the_smallest_class_between_10_and_200(counts, k):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    assert adapted_k(labels) == k
