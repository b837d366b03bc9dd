"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010) and the noise sampler it needs."""

import math

import torch
import torch.nn.functional as F


def nce(
    s_data: torch.Tensor,
    s_noise: torch.Tensor,
    log_q_data: torch.Tensor,
    log_q_noise: torch.Tensor,
) -> torch.Tensor:
    """Noise-contrastive estimation (Gutmann & Hyvärinen, "Noise-contrastive estimation: A
    new estimation principle for unnormalized statistical models", AISTATS 2010), in the
    per-data-sample logistic form used for word embeddings (Mnih & Teh 2012; Mikolov et al.
    2013): a model of unnormalized log-densities s learns by telling each data sample from
    k samples of a known noise distribution q.

    With G(u) = s(u) − log(k·q(u)), the log-odds that u came from the data, and σ the
    logistic function:

        L = −mean over the batch of [ log σ(G_data) + Σ_{k noise samples} log(1 − σ(G_noise)) ]

    computed as softplus(−G_data) + Σ softplus(G_noise), which is stable for any G. The
    model is not normalized: NCE fits the normalizer as part of s. Passing log q = −log k
    makes G = s, which is word2vec's negative sampling.

    Args:
        s_data: (B,) model scores (unnormalized log-densities) of the B data samples.
        s_noise: (B, k) model scores of k noise samples drawn for each data sample.
        log_q_data: (B,) log noise probability of each data sample.
        log_q_noise: (B, k) log noise probability of each noise sample (``sample_noise``
            returns them).
    Returns:
        scalar loss.
    """
    if s_data.ndim != 1 or s_noise.ndim != 2 or s_noise.shape[0] != s_data.shape[0]:
        raise ValueError(f"nce: s_data {tuple(s_data.shape)} and s_noise {tuple(s_noise.shape)} must be (B,), (B, k)")
    if log_q_data.shape != s_data.shape or log_q_noise.shape != s_noise.shape:
        raise ValueError(
            f"nce: log_q_data {tuple(log_q_data.shape)} and log_q_noise {tuple(log_q_noise.shape)} must match "
            f"s_data {tuple(s_data.shape)} and s_noise {tuple(s_noise.shape)}"
        )
    b, k = s_noise.shape
    if b == 0 or k == 0:
        raise ValueError(f"nce: need at least one data sample and one noise sample per data sample, got B={b}, k={k}")
    log_k = math.log(k)
    g_data = s_data - log_k - log_q_data  # (B,)
    g_noise = s_noise - log_k - log_q_noise  # (B, k)
    # log σ(g) = −softplus(−g);  log(1 − σ(g)) = −softplus(g)
    return (F.softplus(-g_data) + F.softplus(g_noise).sum(dim=1)).mean()


def sample_noise(
    probs: torch.Tensor,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw noise samples for ``nce``: indices from a categorical noise distribution q,
    with their log-probabilities.

    For words, word2vec's choice is the unigram distribution raised to the 3/4 power
    (Mikolov et al. 2013, arXiv:1310.4546): ``probs = counts.float() ** 0.75``.

    Args:
        probs: (V,) non-negative weights of the V outcomes; normalized here, so counts or
            powered counts can be passed directly.
        shape: shape of the draw, e.g. (B, k) for k noise samples per data sample.
        generator: optional ``torch.Generator`` (on ``probs``'s device) for reproducibility.
    Returns:
        (indices, log_q): a long tensor of ``shape`` with values in [0, V), drawn with
        replacement, and a tensor of ``shape`` (in ``probs``'s dtype, or the default dtype for counts)
        holding log q(index). The data samples' ``log_q_data`` comes from the same
        normalized distribution: ``(probs / probs.sum()).log()[data_indices]``.
    """
    if probs.ndim != 1 or len(probs) == 0:
        raise ValueError(f"sample_noise: probs {tuple(probs.shape)} must be a non-empty (V,) vector")
    if not probs.is_floating_point():
        probs = probs.to(torch.get_default_dtype())  # counts
    if not bool(torch.isfinite(probs).all()) or bool((probs < 0).any()):
        raise ValueError("sample_noise: probs must be finite and non-negative")
    total = probs.sum()
    if total <= 0:
        raise ValueError("sample_noise: probs sum to 0; at least one outcome needs positive weight")
    shape = tuple(shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"sample_noise: shape {shape} has a negative size")
    log_q = (probs / total).log()  # (V,); −inf for zero-weight outcomes, which are never drawn
    n = math.prod(shape)
    if n == 0:
        indices = torch.zeros(shape, dtype=torch.long, device=probs.device)
    else:  # torch.multinomial allows up to 2**24 outcomes and says so past that
        indices = torch.multinomial(probs, n, replacement=True, generator=generator).view(shape)
    return indices, log_q[indices]
