"""Word-embedding table h_θ for word2vec (Mikolov et al., 2013, arXiv:1301.3781).

The representation is the table of input vectors, one row per word of the word-level
tokenizer. Applied to a document (B, T) of ids it gives the mean vector of its words, so the
same downstream protocols (linear probe, fine-tuning) apply; special tokens ([CLS], [SEP],
[UNK], padding) are left out of the mean. Rows start uniform in ±0.5/dim, as in the
reference C implementation.
"""

import torch
from torch import nn

from ssrl.backbones.registry import register_backbone
from ssrl.data.tokenize import FIRST_ORDINARY
from ssrl.errors import SsrlError


class WordEmbeddings(nn.Module):
    """Word ids (B, T) → mean word vector (B, dim); ``embed`` holds one vector per word."""

    kind = "word-embeddings"

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.dim, self.vocab_size, self.pool = dim, vocab_size, "mean"
        self.embed = nn.Embedding(vocab_size, dim)
        nn.init.uniform_(self.embed.weight, -0.5 / dim, 0.5 / dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.pool != "mean":
            raise SsrlError(f"word embeddings pool by the mean of the word vectors only, not {self.pool!r}")
        words = (ids >= FIRST_ORDINARY).unsqueeze(-1).float()              # (B, T, 1)
        return (self.embed(ids) * words).sum(1) / words.sum(1).clamp(min=1)  # (B, dim)


for _name, _dim in {"word-embeddings-100": 100, "word-embeddings-300": 300}.items():
    register_backbone(_name)(lambda vocab_size, max_len, d=_dim: WordEmbeddings(vocab_size, d))
