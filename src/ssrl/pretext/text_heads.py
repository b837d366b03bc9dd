"""Pieces the text methods share: the check that h_θ is a text backbone, and the LM head k_γ."""

from torch import nn

from ssrl.errors import SsrlError


def require_text_backbone(backbone: nn.Module, method: str) -> None:
    """Refuse a backbone without per-token outputs (``tokens``) and a vocabulary (``vocab_size``)."""
    if not (hasattr(backbone, "tokens") and hasattr(backbone, "vocab_size") and hasattr(backbone, "causal")):
        raise SsrlError(f"{method} is a text method: it needs a text backbone (text-encoder-mini, text-causal-mini, "
                        f"...) and text data (.txt, .tsv, .csv, .jsonl), not {type(backbone).__name__}")


def lm_head(dim: int, vocab_size: int, tied: nn.Embedding | None = None) -> nn.Sequential:
    """Token outputs (..., dim) → logits (..., vocab_size) through BERT's transform (dense, GELU,
    LayerNorm) before the output layer (Devlin et al., 2019, arXiv:1810.04805). With ``tied`` (h_θ's
    input embedding table) the output layer's weights are that table, as in BERT: every prediction
    then trains the token vectors h_θ starts from, and the head adds only an output bias."""
    out = nn.Linear(dim, vocab_size)
    if tied is not None:
        out.weight = tied.weight
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim), out)
