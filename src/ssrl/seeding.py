"""Seeds: every random number of a run follows from ``RunConfig.seed``.

Two rules, used everywhere: what is built (a backbone's initial weights, a head's) is built
inside ``seeded(seed)``, which leaves the caller's random state as it was; what is drawn while
training (data order, views) is drawn after ``torch.manual_seed(epoch_seed(seed, epoch, rank))``
at every epoch start, so an epoch does not depend on what ran before it.
"""

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
