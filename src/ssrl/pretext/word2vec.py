"""word2vec: skip-gram and CBOW with negative sampling. Mikolov et al., 2013, "Efficient
Estimation of Word Representations in Vector Space" (arXiv:1301.3781) and "Distributed
Representations of Words and Phrases and their Compositionality" (arXiv:1310.4546).

P (``word_contexts``): frequent words are dropped with probability 1 − sqrt(t/f(w)); around
every remaining word a window of b words each side, b uniform in 1..window; skip-gram makes one
example per (centre, context) pair, the input the centre word and the target the context
word; CBOW one example per centre, the input its context words and the target the centre
word. Each target comes with ``negatives`` noise words drawn from unigram^0.75.
h_θ: the table of input vectors (``WordEmbeddings``); CBOW averages the context's vectors.
k_γ: the table of output vectors, zero at the start as in the reference C code.
L: negative sampling, −log σ(u_o·h) − Σ_k log σ(−u_k·h) (the paper's eq. 4), which is
``ssrl.losses.nce`` with log q = −log k. Word counts come from the whole of D_s at each
epoch start. Optimizer: AdamW without weight decay (the C code's per-pair SGD with a
linearly decaying rate does not map onto averaged mini-batch losses).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from ssrl.data.tokenize import PAD
from ssrl.errors import SsrlError
from ssrl.losses import nce
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.pretext.word_contexts import (context_mask, dynamic_windows, keep_probability, noise_distribution,
                                        shift, skipgram_pairs, subsample, window_offsets)


@dataclass
class Word2VecConfig:
    architecture: str = "skipgram"  # skipgram | cbow
    window: int = 5                 # largest window each side (the C tool's default)
    negatives: int = 5              # noise words per example (the paper: 5-20 for small data)
    subsample: float = 1e-3         # t (the C tool's default; the paper's 1e-5 is for billions of words)
    noise_power: float = 0.75       # the paper's unigram^(3/4)


@register("word2vec", family="text", modality="text",
          paper="Mikolov et al. 2013, Distributed Representations of Words and Phrases and their Compositionality")
class Word2Vec(Pretext):
    Config = Word2VecConfig
    optimizer = OptimizerDefaults(name="adamw", lr=4e-3, weight_decay=0.0)
    default_backbone = "word-embeddings-100"
    backbone_kinds = ("word-embeddings",)  # h_θ is the input vector table itself
    run_defaults = {"tokenizer": "word"}  # one id per word: the vectors are the words'
    # 5,000 WordNet glosses (B6, batch 64): 780 steps ended under the random table's floor,
    # 4,000 over it on the linear probe but level on kNN, 8,000 over both (BENCHMARKS.md, B6 text)
    min_steps = 8000

    def __init__(self, backbone: nn.Module, cfg: Word2VecConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        if cfg.architecture not in ("skipgram", "cbow"):
            raise SsrlError(f"word2vec: architecture must be skipgram or cbow, got {cfg.architecture!r}")
        self.head = nn.Embedding(backbone.vocab_size, backbone.dim)  # k_γ: output vectors
        nn.init.zeros_(self.head.weight)
        self.register_buffer("keep", torch.ones(backbone.vocab_size))
        self.register_buffer("noise", torch.ones(backbone.vocab_size) / backbone.vocab_size)

    def on_train_epoch_start(self, epoch, images, labels):
        counts = torch.bincount(images.flatten(), minlength=self.backbone.vocab_size)
        self.keep.copy_(keep_probability(counts, self.cfg.subsample))
        self.noise.copy_(noise_distribution(counts, self.cfg.noise_power))
        return None

    def pseudolabels(self, x, index=None):              # P
        words = subsample(x, self.keep)
        if self.cfg.architecture == "skipgram":
            centres, targets = skipgram_pairs(words, self.cfg.window)
            inputs = centres[:, None]                       # (P, 1)
        else:
            b = dynamic_windows(words, self.cfg.window)
            contexts = torch.stack([torch.where(context_mask(words, b, o), shift(words, o), PAD)
                                    for o in window_offsets(self.cfg.window)], -1)  # (B, T, 2·window)
            has_context = (contexts != PAD).any(-1)
            inputs, targets = contexts[has_context], words[has_context]  # (P, 2·window), (P,)
        noise = torch.multinomial(self.noise, len(targets) * self.cfg.negatives, replacement=True)
        return inputs, torch.cat([targets[:, None], noise.view(len(targets), -1)], 1)  # z: (P, 1 + negatives)

    def loss(self, inputs, z):                              # L
        real = (inputs != PAD).unsqueeze(-1).float()        # (P, C, 1)
        h = (self.backbone.embed(inputs) * real).sum(1) / real.sum(1).clamp(min=1)  # (P, dim)
        scores = (self.head(z) @ h.unsqueeze(-1)).squeeze(-1)  # (P, 1 + negatives)
        log_q = torch.full_like(scores, -math.log(self.cfg.negatives))  # makes NCE's G the raw score
        loss = nce(scores[:, 0], scores[:, 1:], log_q[:, 0], log_q[:, 1:])
        return loss, {"pairs": torch.tensor(float(len(z)))}
