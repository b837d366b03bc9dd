"""The contrastive random walk's cycle-consistency loss. Jabri, Owens & Efros 2020, "Space-Time
Correspondence as a Contrastive Random Walk" (NeurIPS), arXiv:2006.14613.

The nodes of each frame t are L2-normalised embeddings q_t (N, D). A walker steps from frame t
to frame t+1 with the transition matrix A_t = softmax_row(q_t q_{t+1}ᵀ / τ) (each row a
distribution over the next frame's nodes), and back with Ā_t = softmax_row(q_{t+1} q_tᵀ / τ). The
walk along the palindrome t = 0 → k → 0 has transitions P_k = A_0 ⋯ A_{k−1} Ā_{k−1} ⋯ Ā_0, and
its target is to return where it started: the loss is the cross-entropy of P_k against the
identity, −(1/N) Σ_i log (P_k)_{ii}, summed over the walk lengths k = 1 … K−1 (the paper's
sum over sub-cycles). Edge dropout (the paper's, rate 0.1) zeroes a fraction of each affinity
matrix's entries before its softmax, so that the walk cannot rely on a single path.
"""

import torch
import torch.nn.functional as F

from ssrl.precision import in_float32

EPS = 1e-20  # keeps log() finite for a return probability that underflowed


def transitions(a: torch.Tensor, b: torch.Tensor, temperature: float, edge_dropout: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Row-stochastic transitions (..., N, M) from nodes a (..., N, D) to nodes b (..., M, D)."""
    logits = (a @ b.transpose(-1, -2)) / temperature
    if edge_dropout > 0:
        dropped = torch.rand(logits.shape, device=logits.device, generator=generator) < edge_dropout
        logits = logits.masked_fill(dropped, float("-inf"))
    return F.softmax(logits, dim=-1).nan_to_num(0.0)  # a row with every edge dropped walks nowhere


@in_float32  # a softmax at τ = 0.07 in bfloat16 would lose the small transitions
def random_walk_loss(nodes: torch.Tensor, temperature: float = 0.07, edge_dropout: float = 0.0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, the mean return accuracy of the longest walk) of the walks above.

    Args:
        nodes: (B, K, N, D) L2-normalised node embeddings of K ≥ 2 frames of B videos.
        temperature: τ of the transitions (the paper: 0.07).
        edge_dropout: fraction of affinities dropped before each softmax (the paper: 0.1; 0 in evaluation).
    """
    if nodes.ndim != 4 or nodes.shape[1] < 2:
        raise ValueError(f"random_walk_loss: nodes must be (B, K ≥ 2, N, D), got {tuple(nodes.shape)}")
    k_frames, n = nodes.shape[1], nodes.shape[2]
    forward = [transitions(nodes[:, t], nodes[:, t + 1], temperature, edge_dropout) for t in range(k_frames - 1)]
    backward = [transitions(nodes[:, t + 1], nodes[:, t], temperature, edge_dropout) for t in range(k_frames - 1)]
    target = torch.arange(n, device=nodes.device).expand(len(nodes), n)
    loss, there = 0.0, None
    for k in range(1, k_frames):
        there = forward[0] if there is None else there @ forward[k - 1]  # (B, N, N): 0 → k
        walk = there
        for t in reversed(range(k)):
            walk = walk @ backward[t]                                     # … → back to 0
        loss = loss + F.nll_loss(torch.log(walk + EPS).flatten(0, 1), target.flatten())
    accuracy = (walk.argmax(-1) == target).float().mean()
    return loss, accuracy


__all__ = ["random_walk_loss", "transitions"]
