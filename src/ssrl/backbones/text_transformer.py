"""Transformer text encoders h_θ over token ids: bidirectional (BERT-style) and causal (GPT-style).

Token embeddings plus learned position embeddings, then pre-norm blocks (LayerNorm →
multi-head self-attention, LayerNorm → GELU MLP of 4× width, each in a residual branch) and a
final LayerNorm (Vaswani et al., 2017, arXiv:1706.03762; pre-norm as in GPT-2, Radford et al.,
2019). Weights start from a normal of std 0.02, as BERT and GPT-2. No dropout: runs here are
short and far from over-fitting.

Inputs are LongTensors (B, T) of ids, padded after the end with id 0 (``PAD``); padded
positions are never attended to and never pooled. ``forward`` gives the pooled feature
(B, dim): the mean over the real tokens (``pool = "mean"``) or the first token, [CLS]
(``pool = "first"``). ``tokens`` gives every position (B, T, dim) for the pretext heads, and
takes an optional attention mask (prefix LM). The causal variant lets position t attend to
positions ≤ t only, so its outputs never depend on later tokens.
"""

import torch
from torch import nn

from ssrl.backbones.registry import register_backbone
from ssrl.backbones.vit import Attention
from ssrl.data.tokenize import PAD

SIZES = {  # name: (dim, depth, heads, causal)
    "text-encoder-mini": (256, 4, 4, False),   # protocol B2's encoder
    "text-causal-mini": (256, 4, 4, True),
    "text-encoder-small": (512, 8, 8, False),
    "text-causal-small": (512, 8, 8, True),
}
POOLS = ("mean", "first")


class TextBlock(nn.Module):
    """Pre-norm Transformer block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), allowed)
        return x + self.mlp(self.norm2(x))


def causal_mask(t: int, device=None) -> torch.Tensor:
    """(T, T) bool, True on and below the diagonal: position i sees positions ≤ i."""
    return torch.ones(t, t, dtype=torch.bool, device=device).tril()


def trim_padding(ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) without the trailing columns that are padding in every row (at least one kept)."""
    length = int((ids != PAD).sum(1).max().clamp(min=1))
    return ids[:, :length]


class TextTransformer(nn.Module):
    """Token ids (B, T) → pooled features (B, dim); ``tokens`` gives (B, T, dim)."""

    kind = "text"

    def __init__(self, vocab_size: int, max_len: int, dim: int, depth: int, heads: int, causal: bool,
                 pool: str = "mean"):
        super().__init__()
        self.dim, self.vocab_size, self.max_len, self.causal = dim, vocab_size, max_len, causal
        self.pool = pool
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Parameter(torch.empty(1, max_len, dim))
        self.blocks = nn.ModuleList(TextBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def tokens(self, ids: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized outputs (B, T, dim) of every position.

        Args:
            ids: (B, T) token ids, T ≤ max_len, padding (0) after the end of each row.
            allowed: optional (B, T, T) or (T, T) bool, True where query i may attend to key j;
                without it, every real token (causal: every earlier or same one). Padded keys are
                masked out either way.
        """
        b, t = ids.shape
        if t > self.max_len:
            raise ValueError(f"{t} tokens, but the backbone was built for at most {self.max_len}")
        if allowed is None:
            allowed = causal_mask(t, ids.device) if self.causal else torch.ones(t, t, dtype=torch.bool, device=ids.device)
        allowed = allowed.expand(b, t, t) & (ids != PAD)[:, None, :]
        allowed = allowed | torch.eye(t, dtype=torch.bool, device=ids.device)  # padded queries see themselves: no NaN
        x = self.embed(ids) + self.pos_embed[:, :t]         # (B, T, dim)
        for block in self.blocks:
            x = block(x, allowed[:, None])
        return self.norm(x)

    def pooled(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(B, dim) from token outputs h (B, T, dim): the mean over real tokens, or the first."""
        if self.pool == "first":
            return h[:, 0]
        if self.pool != "mean":
            raise ValueError(f"unknown pooling {self.pool!r}; choose one of: {', '.join(POOLS)}")
        real = (ids != PAD).unsqueeze(-1).to(h.dtype)       # (B, T, 1)
        return (h * real).sum(1) / real.sum(1).clamp(min=1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = trim_padding(ids)  # padding is never attended to, so cutting it changes nothing but the cost
        return self.pooled(self.tokens(ids), ids)


for _name, (_dim, _depth, _heads, _causal) in SIZES.items():
    register_backbone(_name)(
        lambda vocab_size, max_len, d=_dim, n=_depth, h=_heads, c=_causal: TextTransformer(vocab_size, max_len, d, n, h, c))
