"""Stratified index splits: a held-out test set, or the labeled few of a label-efficiency run."""

from __future__ import annotations

import torch

from ssrl.errors import DataError, SsrlError


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rest_idx, picked_idx): picked has ~fraction of each class (at least 1 per class), deterministic in seed.

    Per class, round(fraction * count) samples are picked, clamped to [1, count], so rare
    classes are never missing from the picked side. Both index tensors are sorted.
    """
    if not 0 < fraction <= 1:
        raise DataError(f"split fraction must be in (0, 1], got {fraction}")
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(labels):  # sorted, so the generator is consumed in a fixed order
        members = torch.nonzero(labels == c).flatten()
        k = min(max(int(fraction * len(members) + 0.5), 1), len(members))
        picked.append(members[torch.randperm(len(members), generator=gen)[:k]])
    mask = torch.zeros(len(labels), dtype=torch.bool)
    if picked:
        mask[torch.cat(picked)] = True
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()


def keep_label_fraction(train, fraction: float, seed: int, unit: str = "images"):
    """``train`` (anything with ``labels`` and ``subset``) cut to a class-balanced ``fraction`` of
    its labels, and the words that say so in a split description (empty when all are kept)."""
    if not 0 < fraction <= 1:
        raise SsrlError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return train, ""
    _, picked = stratified_split(train.labels, fraction, seed)
    train = train.subset(picked)
    return train, f"; {len(train)} labeled training {unit} ({fraction:.0%}, class-balanced, seed {seed})"
