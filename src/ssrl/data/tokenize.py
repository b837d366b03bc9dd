"""Tokenizers (Hugging Face ``tokenizers``), trained on D_s and saved in the run directory.

Three kinds: ``bpe`` (byte-level BPE, GPT-2's scheme: decoding gives back the exact text),
``wordpiece`` (BERT's: lower-cased, punctuation split off) and ``word`` (whole words, for
word2vec). Every kind reserves the same ids for the special tokens, so pretext methods can
name them without a tokenizer at hand: padding is id 0, and ids from ``FIRST_ORDINARY`` on are
ordinary tokens. Documents encode as ``[CLS] tokens [SEP]``, cut to ``max_len`` ids and padded
with zeros after the end.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from ssrl.errors import SsrlError

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
NUM_SENTINELS = 32   # T5's sentinels <extra_id_i> mark corrupted spans (T5 keeps 100; 32 cover 64 tokens)
SENTINEL = 5         # id of the first sentinel
FIRST_ORDINARY = SENTINEL + NUM_SENTINELS
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"[S{i}]" for i in range(NUM_SENTINELS)]
KINDS = ("bpe", "wordpiece", "word")


def _untrained(kind: str) -> tuple[Tokenizer, object]:
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer_cls, extra = trainers.BpeTrainer, {"initial_alphabet": pre_tokenizers.ByteLevel.alphabet()}
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer_cls, extra = trainers.WordPieceTrainer, {}
    elif kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer_cls, extra = trainers.WordLevelTrainer, {}
    else:
        raise SsrlError(f"unknown tokenizer {kind!r}; choose one of: {', '.join(KINDS)}")
    return tok, (trainer_cls, extra)


def train_tokenizer(texts: list[str], kind: str = "bpe", vocab_size: int = 8000, min_frequency: int = 2) -> Tokenizer:
    """A tokenizer of at most ``vocab_size`` entries (specials included) trained on ``texts``."""
    if vocab_size <= FIRST_ORDINARY:
        raise SsrlError(f"vocabulary size {vocab_size} leaves no room beside the {FIRST_ORDINARY} special tokens")
    tok, (trainer_cls, extra) = _untrained(kind)
    trainer = trainer_cls(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS,
                          show_progress=False, **extra)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for i, token in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(token) == i, "the trainers place special tokens first, in order"
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)])
    return tok


def save_tokenizer(tok: Tokenizer, path: Path) -> None:
    tok.save(str(path))


def load_tokenizer(path: Path) -> Tokenizer:
    if not Path(path).is_file():
        raise SsrlError(f"{path}: no tokenizer (a text run keeps its tokenizer.json in the run directory)")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the library raises its own exception type: name the file instead
        raise SsrlError(f"{path}: not a tokenizer file ({e})") from e


def encode(tok: Tokenizer, texts: list[str], max_len: int) -> torch.Tensor:
    """Token ids (N, max_len) int64: ``[CLS] tokens [SEP]`` cut to ``max_len``, then ``PAD`` (0)."""
    if max_len < 2:
        raise SsrlError(f"max_len {max_len} leaves no room for a token beside [CLS] and [SEP]")
    tok.enable_truncation(max_len)
    tok.no_padding()
    out = torch.zeros(len(texts), max_len, dtype=torch.long)
    for i, e in enumerate(tok.encode_batch(texts)):
        out[i, :len(e.ids)] = torch.tensor(e.ids)
    return out


def token_lengths(rows: torch.Tensor) -> torch.Tensor | None:
    """Lengths (N,) of stored token-id rows (N, T) (their non-``PAD`` ids); None for other rows
    (images, features), which have no length to batch by."""
    if rows.dtype != torch.long or rows.ndim != 2:
        return None
    return (rows != PAD).sum(1)


def decode(tok: Tokenizer, ids: torch.Tensor) -> str:
    """The text of one row of ids, special tokens left out."""
    return tok.decode([int(i) for i in ids if i >= FIRST_ORDINARY or i == UNK], skip_special_tokens=False)
