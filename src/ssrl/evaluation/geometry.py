"""The geometry of frozen features, saved beside every kNN and linear result.

Two figures say whether a probe can read the features fairly:

- ``anisotropy``: the mean pairwise cosine similarity of the features (Ethayarajh 2019, "How
  contextual are contextualized word representations?"). Near 1 when every feature points the
  same way (a random-init convnet after ReLUs; a language model's mean-pooled tokens): cosine
  similarity and L2 normalisation then see mostly the shared direction, which is why the probes
  centre (kNN) or standardise (linear) first;
- ``effective_rank`` (Roy & Vetterli 2007, as in ``ssrl.collapse``) of the centred features:
  how many directions they actually use.

Both are computed on at most ``SAMPLE`` rows (a fixed, seeded subset), which keeps them cheap,
the singular values on one CPU thread: LAPACK's many small parallel regions on two threads each
waited for the other thread whenever the machine was shared (BENCHMARKS.md, issue 21).
"""

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ssrl.collapse import effective_rank

SAMPLE = 2048


def feature_geometry(features: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """``{"anisotropy", "effective_rank", "dim"}`` of features (N, D)."""
    f = features.float()
    if len(f) > SAMPLE:
        f = f[torch.randperm(len(f), generator=torch.Generator().manual_seed(seed))[:SAMPLE]]
    unit = F.normalize(f, dim=1)
    n = len(unit)
    total = unit.sum(0)
    mean_cos = ((total @ total - n) / (n * (n - 1))).item() if n > 1 else 1.0  # off-diagonal mean of unit @ unit.T
    with one_thread():
        rank = effective_rank(f).item()
    return {"anisotropy": round(mean_cos, 4), "effective_rank": round(rank, 2), "dim": int(f.shape[1])}


@contextmanager
def one_thread():
    """Torch's CPU operations on one thread inside the block, as many as before after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
