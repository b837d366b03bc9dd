"""The shared pieces of P for word2vec (Mikolov et al., 2013, arXiv:1310.4546): subsampling of
frequent words, (centre, context) pairs inside a dynamic window, and the noise distribution of
negative sampling. Documents are (B, T) word ids padded with 0; only ordinary words
(ids ≥ ``FIRST_ORDINARY``) take part, as word2vec drops the words it has no vector for.
"""

import torch

from ssrl.data.tokenize import FIRST_ORDINARY, PAD


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """P_n(w) ∝ count(w)^power over ordinary words (the paper's unigram^(3/4)); 0 for special tokens."""
    weights = counts.double().pow(power)
    weights[:FIRST_ORDINARY] = 0
    return (weights / weights.sum()).float()


def keep_probability(counts: torch.Tensor, t: float) -> torch.Tensor:
    """Per word, 1 − P(discard), with P(discard w) = 1 − sqrt(t / f(w)) and f the word's share of
    the corpus (the paper's eq. 5), clamped to [0, 1]. Special tokens are never kept."""
    f = counts.double() / counts[FIRST_ORDINARY:].sum().clamp(min=1)
    keep = (t / f.clamp(min=1e-12)).sqrt().clamp(max=1).float()
    keep[:FIRST_ORDINARY] = 0
    return keep


def subsample(ids: torch.Tensor, keep: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each row with every word dropped with probability 1 − keep[word] and the special tokens
    removed, the remaining words packed to the left in order (windows then reach further, as in
    word2vec) and padded with 0."""
    kept = torch.rand(ids.shape, device=ids.device, generator=generator) < keep[ids]
    order = torch.sort((~kept).to(torch.int8), dim=1, stable=True).indices       # kept first, in order
    packed = ids.gather(1, order)
    n = kept.sum(1, keepdim=True)
    packed[torch.arange(ids.shape[1], device=ids.device)[None, :] >= n] = PAD
    return packed[:, :max(int(n.max()), 1)]


def window_offsets(window: int) -> list[int]:
    return [s * d for d in range(1, window + 1) for s in (-1, 1)]


def dynamic_windows(ids: torch.Tensor, window: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per position, the effective window b drawn uniformly from 1..window (word2vec's dynamic
    window: near words are used more often than far ones). (B, T) int."""
    return torch.randint(1, window + 1, ids.shape, device=ids.device, generator=generator)


def context_mask(ids: torch.Tensor, b: torch.Tensor, offset: int) -> torch.Tensor:
    """(B, T) bool: True where the word at t + offset is a context of the centre word at t
    (both real words, |offset| ≤ b[t])."""
    real = ids != PAD
    shifted = torch.zeros_like(real)
    if offset > 0:
        shifted[:, :-offset] = real[:, offset:]
    else:
        shifted[:, -offset:] = real[:, :offset]
    return real & shifted & (abs(offset) <= b)


def shift(x: torch.Tensor, offset: int) -> torch.Tensor:
    """x[:, t + offset] at position t (zeros past either end), for (B, T, ...) tensors."""
    out = torch.zeros_like(x)
    if offset > 0:
        out[:, :-offset] = x[:, offset:]
    else:
        out[:, -offset:] = x[:, :offset]
    return out


def skipgram_pairs(ids: torch.Tensor, window: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres (P,), contexts (P,)): every pair of a word and a word at most b positions away,
    b drawn per centre by ``dynamic_windows``."""
    b = dynamic_windows(ids, window, generator)
    centres, contexts = [], []
    for offset in window_offsets(window):
        m = context_mask(ids, b, offset)
        centres.append(ids[m])
        contexts.append(shift(ids, offset)[m])
    return torch.cat(centres), torch.cat(contexts)
