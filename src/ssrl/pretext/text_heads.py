"""The LM head k_γ the text methods share."""

from torch import nn


def lm_head(dim: int, vocab_size: int, tied: nn.Embedding | None = None) -> nn.Sequential:
    """Token outputs (..., dim) → logits (..., vocab_size) through BERT's transform (dense, GELU,
    LayerNorm) before the output layer (Devlin et al., 2019, arXiv:1810.04805). With ``tied`` (h_θ's
    input embedding table) the output layer's weights are that table, as in BERT: every prediction
    then trains the token vectors h_θ starts from, and the head adds only an output bias."""
    out = nn.Linear(dim, vocab_size)
    if tied is not None:
        out.weight = tied.weight
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), out)
