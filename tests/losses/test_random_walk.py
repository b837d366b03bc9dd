import math

import pytest
import torch
import torch.nn.functional as F

from ssrl.losses.random_walk import random_walk_loss, transitions
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import random_walk_reference


@pytest.mark.parametrize("b,k,n,d", [(1, 2, 2, 3), (2, 3, 3, 4), (1, 4, 3, 2)])
@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_random_walk_matches_reference(b, k, n, d, temperature):
    nodes = F.normalize(randn(b, k, n, d, seed=b * 100 + k * 10 + n), dim=-1)
    assert_matches_reference(lambda q: random_walk_loss(q, temperature)[0],
                             lambda q: random_walk_reference(q, temperature), [nodes])


def test_a_walk_on_a_permutation_consistent_graph_returns_to_its_start():
    # Frame t+1's nodes are frame t's, permuted: each node's one match is its own image, so with
    # a small τ every walk goes there and back: the loss is ~0 and the return accuracy 1.
    n, frames = 5, 4
    base = torch.eye(n)
    perms = [torch.randperm(n, generator=torch.Generator().manual_seed(t)) for t in range(frames)]
    nodes = torch.stack([base[p] for p in perms])[None]                       # (1, K, N, N)
    loss, accuracy = random_walk_loss(nodes, temperature=0.01)
    assert loss.item() < 1e-6 and accuracy.item() == 1.0


def test_indistinct_nodes_give_chance():
    # Every node the same: every transition uniform, each return probability 1/N, for each k.
    n, frames = 6, 3
    nodes = F.normalize(torch.ones(2, frames, n, 4), dim=-1)
    loss, _ = random_walk_loss(nodes, temperature=0.07)
    assert loss.item() == pytest.approx((frames - 1) * math.log(n), rel=1e-5)


def test_transitions_are_row_stochastic_even_with_edges_dropped():
    a, c = F.normalize(torch.randn(2, 4, 3), dim=-1), F.normalize(torch.randn(2, 5, 3), dim=-1)
    p = transitions(a, c, 0.1, edge_dropout=0.5, generator=torch.Generator().manual_seed(0))
    rows = p.sum(-1)
    assert torch.all((rows == 0) | ((rows - 1).abs() < 1e-5))  # 0: every edge of the row dropped
    assert (p == 0).any()  # some edges were dropped


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="random_walk_loss"):
        random_walk_loss(torch.ones(2, 1, 3, 4))


def test_under_bf16_autocast_the_walk_is_computed_in_float32():
    nodes = F.normalize(torch.randn(2, 3, 5, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    full = random_walk_loss(nodes)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = random_walk_loss(nodes)[0]
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, full)
