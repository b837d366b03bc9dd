"""Next-sentence prediction (BERT; Devlin et al., 2019, arXiv:1810.04805, §3.1) and
sentence-order prediction (ALBERT; Lan et al., 2020, arXiv:1909.11942, §3.1).

P: each document is cut at a uniformly random token into two consecutive segments A and B
(ALBERT's segments; documents here are often a single sentence, so the cut does not wait for a
full stop), and the input is ``[CLS] A [SEP] B [SEP]``. ``sop``: half the pairs are swapped to
``[CLS] B [SEP] A [SEP]``, z = 1 for swapped. ``nsp``: in half the pairs B is replaced by the
second segment of another document of the batch, z = 1 for a random next segment.
Documents with fewer than two tokens are left out. k_γ: a linear classifier on h_θ's first
([CLS]) token output. L: cross-entropy over the two classes. There are no segment embeddings:
the [SEP] between the segments marks the boundary, as in RoBERTa-style inputs.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssrl.backbones.text_transformer import trim_padding
from ssrl.data.tokenize import CLS, PAD, SEP
from ssrl.errors import SsrlError
from ssrl.pretext.base import OptimizerDefaults, Pretext
from ssrl.pretext.registry import register
from ssrl.pretext.token_masks import ordinary

TASKS = ("sop", "nsp")


def segment_pairs(ids: torch.Tensor, task: str, max_len: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (B', T), z (B',)) from documents (B, T): B' counts the documents of at least two
    ordinary tokens. See the module docstring; the last tokens of B are dropped when a pair would
    be longer than ``max_len``."""
    bodies = [row[ordinary(row)] for row in ids.cpu()]
    bodies = [b for b in bodies if len(b) >= 2]
    if not bodies:
        raise SsrlError("sentence pairs need documents of at least two tokens; this batch has none")
    cuts = [int(torch.randint(1, len(b), (), generator=generator)) for b in bodies]
    z = (torch.rand(len(bodies), generator=generator) < 0.5).long()
    if task == "nsp" and len(bodies) == 1:  # no other document to take a segment from
        z.zero_()
    rows = []
    for i, (body, cut) in enumerate(zip(bodies, cuts)):
        a, b = body[:cut], body[cut:]
        if task == "sop" and z[i]:
            a, b = b, a
        elif task == "nsp" and z[i]:
            j = (i + 1 + int(torch.randint(len(bodies) - 1, (), generator=generator))) % len(bodies)  # any other
            b = bodies[j][cuts[j]:]
        b = b[:max(max_len - len(a) - 3, 1)]
        rows.append(torch.cat([torch.tensor([CLS]), a, torch.tensor([SEP]), b, torch.tensor([SEP])])[:max_len])
    inputs = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD)
    return inputs.to(ids.device), z.to(ids.device)


@dataclass
class SentenceOrderConfig:
    task: str = "sop"       # sop (ALBERT: swapped or not) | nsp (BERT: random next segment or not)


@register("sentence_order", family="text", modality="text",
          paper="Lan et al. 2020, ALBERT (sentence-order prediction); Devlin et al. 2019, BERT (next-sentence prediction)")
class SentenceOrder(Pretext):
    Config = SentenceOrderConfig
    default_backbone = "text-encoder-mini"
    backbone_kinds = ("text",)
    optimizer = OptimizerDefaults(name="adamw", lr=1e-3, weight_decay=0.01, warmup_epochs=0.05)

    def __init__(self, backbone: nn.Module, cfg: SentenceOrderConfig, views: nn.Module):
        super().__init__(backbone, cfg, views)
        if cfg.task not in TASKS:
            raise SsrlError(f"sentence_order: unknown task {cfg.task!r}; choose one of: {', '.join(TASKS)}")
        self.head = nn.Linear(backbone.dim, 2)  # k_γ

    def pseudolabels(self, x, index=None):              # P
        return segment_pairs(trim_padding(x), self.cfg.task, self.backbone.max_len)

    def loss(self, inputs, z):                              # L
        logits = self.head(self.backbone.tokens(inputs)[:, 0])  # the [CLS] output
        return F.cross_entropy(logits, z), {"pretext_acc": (logits.argmax(1) == z).float().mean()}
