"""Span corruption (T5). Raffel et al., 2020, arXiv:1910.10683, §3.1.4 and §3.3.

P: 15% of each document's ordinary tokens, in spans of mean length 3, are each replaced by one
sentinel; z = the sentinels, each followed by the span it replaced, then [SEP]
(``token_masks.span_corrupt``). Three options have the whole original document as their
target: ``infilling`` (T5's input, spans replaced by sentinels: BART's text infilling, Lewis et
al., 2020, arXiv:1910.13461, §2.2, which replaces each span by one mask token), ``deshuffle``
(tokens in a random order, T5's table 3) and ``deletion`` (15% of the tokens dropped: BART's
token deletion, not T5's "drop corrupted tokens", whose target is the dropped tokens alone).
k_γ: a Transformer decoder (causal self-attention, cross-attention to h_θ's token outputs) that
reads the target shifted right behind [CLS]; it shares h_θ's token embeddings, as T5 shares them
between encoder and decoder, and by default also uses them as its output layer (T5 v1.0 ties all
three), so every predicted token trains the vectors h_θ embeds its input with; k_γ is discarded
after pretraining. With ``share_decoder`` the decoder is h_θ's own blocks and final layer norm
run causally over the target, each with a cross-attention of its own inserted between
self-attention and MLP: the paper's "encoder-decoder, shared" variant (§3.2.2, Table 2), which scored
close to separate weights, and in which every target token also trains h_θ's layers.
L: cross-entropy over every target token (teacher forcing). Optimizer: AdamW, weight decay
0.01, lr 1e-3 per 256 documents (T5 uses Adafactor at 1e-2 for far larger models).

On B2 the span objective leaves h_θ's pooled features under their random-init linear probe in
every setting tried; the whole-document targets beat it clearly, because the decoder must then
read every token back out of h_θ's outputs. Figures: BENCHMARKS.md, "B2", the span corruption
paragraphs.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.text_transformer import causal_mask, trim_padding
from ssrl.data.tokenize import CLS, PAD
from ssrl.errors import SsrlError
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.pretext.token_masks import delete_tokens, shuffle_tokens, span_corrupt

OBJECTIVES = ("span", "infilling", "deletion", "deshuffle")


@dataclass
class SpanCorruptionConfig:
    objective: str = "span"         # span | infilling, deletion (BART's) | deshuffle (the paper's table 3)
    noise_density: float = 0.15     # share of tokens corrupted (span, infilling) or dropped (deletion)
    mean_span: float = 3.0          # the paper's best mean span length
    decoder_layers: int = 2         # k_γ's depth; small, since it is thrown away
    decoder_heads: int = 4
    tie_embeddings: bool = True     # k_γ's output weights are h_θ's input embeddings, as T5 v1.0
    share_decoder: bool = False     # k_γ reuses h_θ's blocks (then decoder_layers is h_θ's depth)


class SpanDecoder(nn.Module):
    """k_γ: target ids (B, Tt) shifted right, with h_θ's token outputs (B, Ti, dim) → logits (B, Tt, vocab)."""

    def __init__(self, embed: nn.Embedding, max_len: int, layers: int, heads: int, tied: bool = True):
        super().__init__()
        dim = embed.embedding_dim
        self.embed = embed                                  # shared with h_θ
        self.pos_embed = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        layer = nn.TransformerDecoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(dim))
        self.out = nn.Linear(dim, embed.num_embeddings)
        if tied:
            self.out.weight = embed.weight

    def forward(self, dec_in: torch.Tensor, memory: torch.Tensor, memory_ids: torch.Tensor) -> torch.Tensor:
        t = dec_in.shape[1]
        x = self.embed(dec_in) + self.pos_embed[:, :t]
        y = self.layers(x, memory, tgt_mask=~causal_mask(t, x.device),  # torch's masks: True = hidden
                        tgt_key_padding_mask=dec_in == PAD, memory_key_padding_mask=memory_ids == PAD)
        return self.out(y)


class SharedSpanDecoder(nn.Module):
    """k_γ of the shared variant: h_θ's blocks and final layer norm, causal over the target, each
    block followed by a cross-attention of its own to h_θ's token outputs before its MLP; the
    output layer is tied. Only the cross-attentions, the target's positions and the output bias
    are k_γ's own."""

    def __init__(self, backbone: nn.Module, max_len: int):
        super().__init__()
        dim, heads = backbone.dim, backbone.blocks[0].attn.heads
        self.embed, self.blocks, self.norm = backbone.embed, backbone.blocks, backbone.norm   # shared with h_θ
        self.pos_embed = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        self.cross_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in self.blocks)
        self.cross = nn.ModuleList(nn.MultiheadAttention(dim, heads, batch_first=True) for _ in self.blocks)
        self.out_bias = nn.Parameter(torch.zeros(backbone.vocab_size))

    def forward(self, dec_in: torch.Tensor, memory: torch.Tensor, memory_ids: torch.Tensor) -> torch.Tensor:
        t = dec_in.shape[1]
        x = self.embed(dec_in) + self.pos_embed[:, :t]
        allowed = causal_mask(t, x.device) & (dec_in != PAD)[:, None, :]
        allowed = (allowed | torch.eye(t, dtype=torch.bool, device=x.device))[:, None]  # padded queries: no NaN
        for block, norm, cross in zip(self.blocks, self.cross_norms, self.cross):
            x = x + block.attn(block.norm1(x), allowed)
            x = x + cross(norm(x), memory, memory, key_padding_mask=memory_ids == PAD, need_weights=False)[0]
            x = x + block.mlp(block.norm2(x))
        return self.norm(x) @ self.embed.weight.T + self.out_bias


@register("span_corruption", family="text", modality="text",
          paper="Raffel et al. 2020, Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer; "
                "Lewis et al. 2020, BART (infilling and deletion targets)")
class SpanCorruption(Pretext):
    Config = SpanCorruptionConfig
    default_backbone = "text-encoder-mini"
    backbone_kinds = ("text",)
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=0.01, warmup_epochs=0.05)

    def __init__(self, backbone: nn.Module, cfg: SpanCorruptionConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        if cfg.objective not in OBJECTIVES:
            raise SsrlError(f"span_corruption: unknown objective {cfg.objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        # Targets are at most twice the document (a sentinel before every token) plus [SEP].
        target_len = 2 * backbone.max_len + 1
        self.head = (SharedSpanDecoder(backbone, target_len) if cfg.share_decoder else          # k_γ
                     SpanDecoder(backbone.embed, target_len, cfg.decoder_layers, cfg.decoder_heads, cfg.tie_embeddings))

    def pseudolabels(self, x, index=None):              # P
        x = trim_padding(x)
        c = self.cfg
        if c.objective == "span":
            return span_corrupt(x, c.noise_density, c.mean_span)
        target = x[:, 1:]                                   # the document after [CLS], [SEP] included
        if c.objective == "infilling":
            return span_corrupt(x, c.noise_density, c.mean_span)[0], target
        inputs = delete_tokens(x, c.noise_density) if c.objective == "deletion" else shuffle_tokens(x)
        return inputs, target

    def loss(self, inputs, z):                              # L
        memory = self.backbone.tokens(inputs)               # (B, Ti, dim)
        dec_in = torch.cat([torch.full_like(z[:, :1], CLS), z[:, :-1]], 1)  # shifted right behind [CLS]
        logits = self.head(dec_in, memory, inputs)          # (B, Tt, vocab)
        real = z != PAD
        logits, target = logits[real], z[real]
        return F.cross_entropy(logits, target), {"pretext_acc": (logits.argmax(1) == target).float().mean()}
