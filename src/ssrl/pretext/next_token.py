"""Autoregressive next-token prediction (GPT; Radford et al., 2018, "Improving Language
Understanding by Generative Pre-Training") and, as an option, the prefix LM (Raffel et al.,
2020, arXiv:1910.10683, §3.2.1).

P: x = the document, z = the same ids shifted by one (position t predicts token t + 1).
k_γ: a linear map from h_θ's token outputs to the vocabulary. L: cross-entropy over every
real next token. Attention is causal: position t sees positions ≤ t. With ``prefix_lm``, each
document is cut at a uniformly random point after [CLS]; the prefix attends to all of itself
(bidirectionally), the rest causally, and only the tokens after the prefix are predicted.

Use it with a causal backbone (``text-causal-mini``), whose features are causal downstream
too; the prefix LM suits a bidirectional one (``text-encoder-mini``), since downstream the
whole document is the prefix. Optimizer: AdamW, weight decay 0.01, lr 1e-3 per 256 documents.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.text_transformer import causal_mask, trim_padding
from ssrl.data.tokenize import PAD
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.pretext.token_masks import IGNORE


@dataclass
class NextTokenConfig:
    prefix_lm: bool = False     # bidirectional attention over a random prefix, loss on the rest


def prefix_mask(prefix: torch.Tensor, t: int) -> torch.Tensor:
    """(B, T, T) bool attention mask of the prefix LM with prefixes of ``prefix`` (B,) positions:
    query i sees key j when j ≤ i (causal) or when j lies inside the prefix (j < prefix)."""
    j = torch.arange(t, device=prefix.device)
    return causal_mask(t, prefix.device) | (j[None, None, :] < prefix[:, None, None])


@register("next_token", family="text", modality="text",
          paper="Radford et al. 2018, Improving Language Understanding by Generative Pre-Training")
class NextToken(Pretext):
    Config = NextTokenConfig
    default_backbone = "text-causal-mini"
    backbone_kinds = ("text",)
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=0.01, warmup_epochs=0.05)

    def __init__(self, backbone: nn.Module, cfg: NextTokenConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        self.head = nn.Linear(backbone.dim, backbone.vocab_size)  # k_γ

    def pseudolabels(self, x, index=None):              # P
        x = trim_padding(x)
        b, t = x.shape
        z = torch.cat([x[:, 1:], torch.full((b, 1), PAD, dtype=x.dtype, device=x.device)], 1)
        z = z.masked_fill(z == PAD, IGNORE)                 # (B, T): token t + 1, or IGNORE past the end
        if not self.cfg.prefix_lm:
            return (x, causal_mask(t, x.device)), z
        lengths = (x != PAD).sum(1)                         # (B,)
        prefix = 1 + (torch.rand(b, device=x.device) * (lengths - 1).clamp(min=1)).long()  # 1 .. length-1
        z = z.masked_fill(torch.arange(t, device=x.device)[None, :] < prefix[:, None] - 1, IGNORE)
        return (x, prefix_mask(prefix, t)), z

    def loss(self, inputs, z):                              # L
        x, allowed = inputs
        h = self.backbone.tokens(x, allowed)                # (B, T, dim)
        predicted = z != IGNORE
        logits = self.head(h[predicted])                    # (n, vocab)
        target = z[predicted]
        return F.cross_entropy(logits, target), {"pretext_acc": (logits.argmax(1) == target).float().mean()}
