"""Permutation sets of maximal Hamming distance: the classes of the jigsaw pretext task.

Noroozi & Favaro (2016, arXiv:1603.09246, Algorithm 1) pick the puzzle's shuffles
from the 9! orderings of a 3×3 grid greedily, one at a time, the next one being the ordering
farthest in Hamming distance (the number of positions where two orderings differ) from those
already chosen; a set whose members all differ in many positions makes the classes easy to
tell apart by content and hard to confuse by a tile or two. Their Algorithm 1 ranks a
candidate by its summed distance to the chosen set; here it is ranked by its *minimum*
distance (farthest-point sampling), which is exactly the quantity that separates the two
closest classes. Ties are broken at random from ``seed``, so a set is a function of (count, n, seed) alone.
"""

import itertools
from functools import lru_cache

import numpy as np

MAX_ITEMS = 9  # 9! orderings (3.3 MB) is the most we enumerate: a 3×3 puzzle


@lru_cache(maxsize=2)
def all_permutations(n: int) -> np.ndarray:
    """Every ordering of 0..n-1, (n!, n) uint8 in lexicographic order (read-only, cached)."""
    if not 1 <= n <= MAX_ITEMS:
        raise ValueError(f"permutations of {n} items: choose 1..{MAX_ITEMS} (all n! orderings are enumerated)")
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.uint8)
    perms.flags.writeable = False
    return perms


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) numbers of positions where the orderings a[i] and b[j] differ."""
    return (np.asarray(a)[:, None, :] != np.asarray(b)[None, :, :]).sum(-1)


def min_hamming_distance(perms: np.ndarray) -> int:
    """The smallest Hamming distance between two different members of ``perms``."""
    d = hamming_distances(perms, perms)
    np.fill_diagonal(d, perms.shape[1] + 1)
    return int(d.min())


def _distances_to(columns: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Hamming distance of every candidate (given as its (n, n!) columns) to ``perm``."""
    d = np.zeros(columns.shape[1], dtype=np.uint8)
    for position, item in enumerate(perm):
        d += columns[position] != item
    return d


@lru_cache(maxsize=8)
def _greedy(count: int, n: int, seed: int) -> np.ndarray:
    candidates = all_permutations(n)
    if not 1 <= count <= len(candidates):
        raise ValueError(f"a set of {count} permutations of {n} items: choose 1..{len(candidates)}")
    columns = np.ascontiguousarray(candidates.T)  # column-wise compares: contiguous, much faster than row-wise
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(candidates)))]
    nearest = _distances_to(columns, candidates[chosen[0]])  # each candidate's distance to the set
    for _ in range(count - 1):
        farthest = np.flatnonzero(nearest == nearest.max())
        pick = int(rng.choice(farthest))
        chosen.append(pick)
        np.minimum(nearest, _distances_to(columns, candidates[pick]), out=nearest)
    perms = candidates[chosen].astype(np.int64)
    perms.flags.writeable = False
    return perms


def max_hamming_permutations(count: int = 64, n: int = 9, seed: int = 0) -> np.ndarray:
    """``count`` orderings of 0..n-1, (count, n) int64, chosen greedily for maximal minimum
    Hamming distance: the first at random, each next one among the orderings whose distance to
    the nearest already chosen is largest (at random among ties). Deterministic in ``seed``.

    Costs O(count · n! · n), after listing the n! orderings once per process. Timings:
    BENCHMARKS.md, "Issue 4", the jigsaw item.
    """
    return _greedy(int(count), int(n), int(seed)).copy()


__all__ = ["all_permutations", "hamming_distances", "max_hamming_permutations", "min_hamming_distance"]
