"""Text: documents as int64 token ids (N, ``max_tokens``), [CLS] text [SEP], padded with 0.

Pretraining trains a tokenizer on D_s (saved as ``RUN/tokenizer.json``; a resumed run reads it
back); evaluation and embedding encode D_t with the run's tokenizer and pool the backbone's
token outputs (``pool``: the mean over real tokens, or the first token). Plain text, TSV, CSV and
JSON-lines files (``ssrl.data.text``) are text data, and so are documents given as Python
objects (``ssrl.data.objects``: a list of strings, labeled under ``label``).
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ssrl.config import RunConfig
from ssrl.data.text import load_text, load_text_labeled, text_kind
from ssrl.data.tokenize import FIRST_ORDINARY, encode, load_tokenizer, save_tokenizer, token_lengths, train_tokenizer
from ssrl.errors import SsrlError
from ssrl.modality.base import Modality, Rows, SourceRows

TOKENIZER_FILE = "tokenizer.json"
POOLS = ("mean", "first")
WORD2VEC_SUFFIXES = (".txt", ".vec")
DEFAULT_TOKENIZER = "bpe"


class TextModality(Modality):
    name = "text"
    default_backbone = "text-encoder-mini"
    # word2vec beats its random-init floor on 5,000 short documents in a minute of CPU, where
    # masked LM and next-token prediction do not yet (BENCHMARKS.md, B6 text)
    default_method = "word2vec"
    unit = "documents"
    # B2's batch; why not 256 on small corpora: BENCHMARKS.md, B6 text
    largest_chosen_batch = 64
    data_options = ("label_column", "text_column", "pool")
    input_name = "ids"
    run_options = ("text_column", "documents", "tokenizer", "vocab_size", "max_tokens")
    run_files = (TOKENIZER_FILE,)

    def claims(self, spec: str) -> bool:
        return text_kind(spec) is not None

    def load_source(self, cfg: RunConfig, run_dir: Path | None = None) -> SourceRows:
        source = load_text(cfg.data, split="train", text_column=cfg.text_column, documents=cfg.documents)
        if cfg.limit:
            source = source.subset(range(min(cfg.limit, len(source))))
        if not len(source):
            raise SsrlError(f"{cfg.data}: no documents")
        kind = cfg.tokenizer or DEFAULT_TOKENIZER
        tok = (load_tokenizer(run_dir / TOKENIZER_FILE) if run_dir is not None
               else train_tokenizer(source.texts, kind, cfg.vocab_size))
        return SourceRows(encode(tok, source.texts, cfg.max_tokens), None, source.name,
                          resolved={"tokenizer": kind, "vocab_size": tok.get_vocab_size()},
                          files={TOKENIZER_FILE: lambda path: save_tokenizer(tok, path)})

    def backbone_dims(self, cfg: RunConfig) -> tuple[int, ...]:
        return cfg.vocab_size, cfg.max_tokens

    def lengths(self, rows: torch.Tensor) -> torch.Tensor | None:
        return token_lengths(rows)

    def labeled(self, run_dir: Path, cfg: RunConfig, data: str, *, test_data: str | None, seed: int,
                **options) -> tuple[Rows, Rows, str]:
        options = self.check_options(options)
        if "label_column" not in options and text_kind(data) == "held":
            options["label_column"] = "label"  # documents given with their labels in Python
        if "label_column" not in options:
            raise SsrlError(f"{data}: name the label column of the text data (--label-column)")
        tok = load_tokenizer(Path(run_dir) / TOKENIZER_FILE)
        train, test, split = load_text_labeled(data, label_column=options["label_column"],
                                               text_column=options.get("text_column", cfg.text_column),
                                               test_spec=test_data, documents=cfg.documents, seed=seed)
        return (Rows(encode(tok, train.texts, cfg.max_tokens), train.labels, train.name),
                Rows(encode(tok, test.texts, cfg.max_tokens), test.labels, test.name), split)

    def embed_rows(self, run_dir: Path, cfg: RunConfig, data: str, **options) -> torch.Tensor:
        options = self.check_options(options)
        tok = load_tokenizer(Path(run_dir) / TOKENIZER_FILE)
        source = load_text(data, split=None, text_column=options.get("text_column", cfg.text_column),
                           documents=cfg.documents)
        return encode(tok, source.texts, cfg.max_tokens)

    def own_output(self, run_dir: Path, backbone: nn.Module, out: Path) -> np.ndarray | None:
        if Path(out).suffix not in WORD2VEC_SUFFIXES:
            return None
        words, vectors = vocabulary_vectors(backbone, load_tokenizer(Path(run_dir) / TOKENIZER_FILE), str(run_dir))
        write_word2vec(out, words, vectors)
        return vectors

    def feature_backbone(self, backbone: nn.Module, pool: str | None = None, **options) -> nn.Module:
        pool = pool or POOLS[0]
        if pool not in POOLS:
            raise SsrlError(f"unknown pooling {pool!r}; choose one of: {', '.join(POOLS)}")
        backbone.pool = pool
        return backbone

    def result_fields(self, pool: str | None = None, **options) -> dict:
        return {"pool": pool or POOLS[0]}

    def traceable(self, cfg: RunConfig, backbone: nn.Module) -> tuple[nn.Module, torch.Tensor, dict]:
        """The batch and the length are dynamic; a transformer is traced through ``PooledTokens``
        (word2vec's table as it is)."""
        module = PooledTokens(backbone) if hasattr(backbone, "pooled") else backbone
        example = torch.randint(1, cfg.vocab_size, (2, cfg.max_tokens), generator=torch.Generator().manual_seed(0))
        example[1, cfg.max_tokens // 2:] = 0  # padding after the end, as the tokenizer writes it
        return module, example, {0: torch.export.Dim("batch", min=1),
                                 1: torch.export.Dim("tokens", min=2, max=cfg.max_tokens)}

    def backbone_spec(self, cfg: RunConfig, backbone: nn.Module) -> dict:
        return {"backbone": cfg.backbone, "vocab_size": cfg.vocab_size, "max_tokens": cfg.max_tokens, "dim": backbone.dim,
                "input": f"int64 token ids (B, T) of {TOKENIZER_FILE}, [CLS] text [SEP], padded with 0 after the end"}


class PooledTokens(nn.Module):
    """A text backbone's features without the padding trim of its ``forward`` (a shape that
    depends on the data, which torch.export cannot trace). Padded positions are never attended
    to nor pooled, so the features are the same; only the cost of the padding remains."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.pooled(self.backbone.tokens(ids), ids)


def vocabulary_vectors(backbone: nn.Module, tok, name: str) -> tuple[list[str], np.ndarray]:
    """(words, vectors (V, dim)): the input embedding table of a text backbone for the ordinary
    entries of its tokenizer ``tok``, in id order; ``name`` (the run) is for the error."""
    if not hasattr(backbone, "embed"):
        raise SsrlError(f"{name}: not a text run (its backbone has no word-embedding table)")
    vocab = tok.get_vocab()
    ids = sorted(i for i in vocab.values() if i >= FIRST_ORDINARY)
    words = {i: w for w, i in vocab.items()}
    return [words[i] for i in ids], backbone.embed.weight.detach()[ids].numpy()


def write_word2vec(path: str | Path, words: list[str], vectors: np.ndarray) -> None:
    """The word2vec text format: a line ``V dim``, then ``word v_1 ... v_dim`` per word."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, v in zip(words, vectors):
            f.write(word.replace(" ", "_") + " " + " ".join(f"{x:.6g}" for x in v) + "\n")
