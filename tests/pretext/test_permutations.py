"""The jigsaw permutation set: greedy for maximal minimum Hamming distance (checked by brute
force), far better separated than random sets, deterministic in its seed, every member an
ordering of 0..8, no duplicates."""

import itertools

import numpy as np
import pytest

from ssrl.pretext.permutations import all_permutations, hamming_distances, max_hamming_permutations, min_hamming_distance


def _brute_force_min_distance(perms) -> int:
    return min(sum(a != b for a, b in zip(p, q)) for p, q in itertools.combinations(perms.tolist(), 2))


def test_min_distance_of_the_default_set_matches_brute_force_and_beats_random_sets():
    perms = max_hamming_permutations()
    greedy = _brute_force_min_distance(perms)
    assert min_hamming_distance(perms) == greedy
    rng = np.random.default_rng(0)
    random_sets = [np.stack([rng.permutation(9) for _ in range(64)]) for _ in range(20)]
    best_random = max(_brute_force_min_distance(r) for r in random_sets)
    assert greedy >= best_random + 2, (greedy, best_random)


def test_every_pick_is_the_farthest_ordering_from_the_ones_before():
    perms = max_hamming_permutations(64)
    every = np.array(list(itertools.permutations(range(9))), dtype=np.int8)  # enumerated here, not by the module
    for k in (1, 2, 10, 63):
        nearest = np.full(len(every), 9)
        for p in perms[:k]:
            nearest = np.minimum(nearest, (every != p).sum(1))
        assert (perms[k] != perms[:k]).sum(1).min() == nearest.max()


def test_the_set_is_a_function_of_its_seed():
    a, b = max_hamming_permutations(64, seed=0), max_hamming_permutations(64, seed=0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, max_hamming_permutations(64, seed=1))
    a[0] = 0  # a copy: changing it leaves the next caller's set intact
    assert np.array_equal(max_hamming_permutations(64, seed=0), b)
    assert np.array_equal(max_hamming_permutations(10, seed=0), b[:10])  # greedy: a prefix of the larger set


def test_members_are_distinct_orderings_of_the_tiles():
    perms = max_hamming_permutations(100)
    assert perms.shape == (100, 9) and perms.dtype == np.int64
    assert (np.sort(perms, axis=1) == np.arange(9)).all()
    assert len({tuple(p) for p in perms.tolist()}) == len(perms)


def test_small_sets_and_bad_requests():
    assert len(all_permutations(4)) == 24
    everything = max_hamming_permutations(24, n=4)
    assert len({tuple(p) for p in everything.tolist()}) == 24  # asking for all n! gives all of them
    assert hamming_distances(np.array([[0, 1, 2]]), np.array([[0, 1, 2], [1, 0, 2], [1, 2, 0]])).tolist() == [[0, 2, 3]]
    with pytest.raises(ValueError, match="choose 1..24"):
        max_hamming_permutations(25, n=4)
    with pytest.raises(ValueError, match="items"):
        max_hamming_permutations(3, n=10)
