"""Seeds: every random number of a run follows from ``RunConfig.seed``.

Two rules, used everywhere: what is built (a backbone's initial weights, a head's) is built
inside ``seeded(seed)``, which leaves the caller's random state as it was; what is drawn while
training follows from where training is, never from what ran before: the data order of an
epoch from ``epoch_seed(seed, epoch, 0)``, a method's epoch-start work (re-clustering) after
``torch.manual_seed(epoch_seed(seed, epoch, rank + 1))``, and each step's views after
``torch.manual_seed(step_seed(seed, step, rank + 1))`` at that step's start. A run resumed from
any checkpoint, mid-epoch included, thus draws the same views at step k as one that never stopped.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the body with torch's CPU generator seeded with ``seed``; restore its state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of one epoch on one process (rank 0: the data order shared by all processes)."""
    return (seed * 1_000_003 + epoch * 1_009 + rank) % 2**63


def step_seed(seed: int, step: int, rank: int) -> int:
    """The seed of one optimizer step (``global_step``, counted from 0) on one process: a hash of
    the three, so neighbouring seeds, steps and ranks get unrelated streams."""
    digest = hashlib.blake2b(f"step {seed} {step} {rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**63
