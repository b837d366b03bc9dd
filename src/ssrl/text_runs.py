"""Text runs: the text side of ``ssrl.api`` (pretrain, evaluate, embed on documents).

Pretraining trains a tokenizer on D_s (saved as ``RUN/tokenizer.json``) and hands the engine
token ids (N, max_tokens); evaluation and embedding encode D_t with the run's tokenizer and
pool the backbone's token outputs (``pool``: the mean over real tokens, or the first token).
"""

from pathlib import Path

import numpy as np
from torch import nn

from ssrl.config import RunConfig
from ssrl.data.split import keep_label_fraction
from ssrl.data.text import load_text, load_text_labeled, text_kind
from ssrl.data.tokenize import encode, load_tokenizer, train_tokenizer
from ssrl.errors import SsrlError
from ssrl.evaluation import extract_features, finetune_top1, knn_top1, linear_probe_top1
from ssrl.runs import init_backbone, load_backbone, run_config
from ssrl.word_vectors import nearest_words, word_vectors, write_word2vec

TOKENIZER_FILE = "tokenizer.json"
POOLS = ("mean", "first")
WORD2VEC_SUFFIXES = (".txt", ".vec")


def is_text_data(spec: str | None) -> bool:
    return spec is not None and text_kind(spec) is not None


def default_backbone(method: str) -> str:
    """word2vec trains a word-embedding table, next-token prediction a causal model, every other
    text method a bidirectional one."""
    return {"word2vec": "word-embeddings-100", "next_token": "text-causal-mini"}.get(method, "text-encoder-mini")


def source_ids(cfg: RunConfig, tokenizer_path: Path | None = None):
    """(ids (N, max_tokens), tokenizer) of D_s: the train split of ``cfg.data``, its first
    ``cfg.limit`` documents if set, encoded by the tokenizer at ``tokenizer_path`` or, without
    it, by one trained on them (``cfg.vocab_size`` is set to the size it reached)."""
    source = load_text(cfg.data, split="train", text_column=cfg.text_column, documents=cfg.documents)
    if cfg.limit:
        source = source.subset(range(min(cfg.limit, len(source))))
    if not len(source):
        raise SsrlError(f"{cfg.data}: no documents")
    cfg.tokenizer = cfg.tokenizer or ("word" if cfg.method == "word2vec" else "bpe")
    tok = load_tokenizer(tokenizer_path) if tokenizer_path else train_tokenizer(source.texts, cfg.tokenizer, cfg.vocab_size)
    cfg.vocab_size = tok.get_vocab_size()
    return encode(tok, source.texts, cfg.max_tokens), tok


def labeled_ids(run: str | Path, data: str, label_column: str, text_column: str | None = None,
                test_data: str | None = None, label_fraction: float = 1.0, seed: int = 0):
    """D_t encoded with the run's tokenizer: (train_x, train_y, test_x, test_y, split note)."""
    cfg = run_config(run)
    tok = load_tokenizer(Path(run) / TOKENIZER_FILE)
    train, test, split = load_text_labeled(data, label_column=label_column, text_column=text_column or cfg.text_column,
                                           test_spec=test_data, documents=cfg.documents, seed=seed)
    train, note = keep_label_fraction(train, label_fraction, seed, unit="documents")
    split += note
    return (encode(tok, train.texts, cfg.max_tokens), train.labels, encode(tok, test.texts, cfg.max_tokens),
            test.labels, split)


def with_pool(backbone: nn.Module, pool: str) -> nn.Module:
    if pool not in POOLS:
        raise SsrlError(f"unknown pooling {pool!r}; choose one of: {', '.join(POOLS)}")
    backbone.pool = pool
    return backbone


def text_score(backbone: nn.Module, train_x, train_y, test_x, test_y, protocol: str, *, k: int = 200,
               temperature: float = 0.1, seed: int = 0, budget=None, progress: bool = False) -> float:
    """Top-1 (a fraction) of one protocol (knn, linear, finetune) for a text backbone."""
    if protocol in ("knn", "linear"):
        train_f = extract_features(backbone, train_x, progress=progress)
        test_f = extract_features(backbone, test_x, progress=progress)
        if protocol == "knn":
            return knn_top1(train_f, train_y, test_f, test_y, k, temperature)
        return linear_probe_top1(train_f, train_y, test_f, test_y, seed=seed)
    if protocol == "finetune":
        b = budget
        return finetune_top1(backbone, train_x, train_y, test_x, test_y, epochs=b.epochs, lr_backbone=b.lr_backbone,
                             lr_head=b.lr_head, batch_size=b.batch_size, seed=seed, weight_decay=b.weight_decay,
                             progress=progress)
    raise SsrlError(f"protocol {protocol!r} is not available for text runs; choose knn, linear or finetune")


def evaluate_text(run: str | Path, data: str, protocol: str, *, label_column: str | None, text_column: str | None = None,
                  pool: str = "mean", test_data: str | None = None, label_fraction: float = 1.0, k: int = 200,
                  temperature: float = 0.1, seed: int = 0, budget=None, progress: bool = False) -> dict:
    """``ssrl.api.evaluate`` for a text run: top-1 of the pretrained backbone beside its random init."""
    if label_column is None:
        raise SsrlError(f"{data}: name the label column of the text data (--label-column)")
    if protocol == "finetune" and budget is None:
        raise SsrlError("fine-tuning needs a training budget (epochs, learning rates, batch size)")
    cfg = run_config(run)
    train_x, train_y, test_x, test_y, split = labeled_ids(run, data, label_column, text_column, test_data,
                                                          label_fraction, seed)
    top1 = {name: text_score(with_pool(backbone, pool), train_x, train_y, test_x, test_y, protocol, k=k,
                             temperature=temperature, seed=seed, budget=budget, progress=progress)
            for name, backbone in (("top1", load_backbone(run)), ("random_init_top1", init_backbone(cfg)))}
    return {"run": str(run), "data": data, "protocol": protocol, "pool": pool, "split": split,
            "label_fraction": label_fraction, "n_train": len(train_x), "n_test": len(test_x), **top1}


def embed_text(run: str | Path, data: str | None, out: str | Path | None = None, *, text_column: str | None = None,
               pool: str = "mean") -> np.ndarray:
    """Pooled features (N, dim) of every document of ``data`` (all rows); saved to ``out`` (.npy) if
    given. With ``out`` ending in .txt or .vec: the vectors of the vocabulary (the input embedding
    table) in word2vec's text format instead, and ``data`` is not needed."""
    if out is not None and Path(out).suffix in WORD2VEC_SUFFIXES:
        words, vectors = word_vectors(run)
        write_word2vec(out, words, vectors)
        return vectors
    if data is None:
        raise SsrlError("embed needs --data (or an --out ending in .txt or .vec for the word vectors)")
    cfg = run_config(run)
    tok = load_tokenizer(Path(run) / TOKENIZER_FILE)
    source = load_text(data, split=None, text_column=text_column or cfg.text_column, documents=cfg.documents)
    ids = encode(tok, source.texts, cfg.max_tokens)
    features = extract_features(with_pool(load_backbone(run), pool), ids, progress=True).numpy()
    if out is not None:
        np.save(out, features)
    return features


def similar_words(run: str | Path, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` nearest words to ``word`` by cosine similarity of the run's word vectors."""
    return nearest_words(*word_vectors(run), word, k)


def check_modality(cfg: RunConfig, method_modality: str) -> None:
    if method_modality != cfg.modality:
        raise SsrlError(f"{cfg.data}: {cfg.modality} data, but {cfg.method} is a method for {method_modality} "
                        f"(see `ssrl methods`)")


__all__ = ["TOKENIZER_FILE", "check_modality", "default_backbone", "embed_text", "evaluate_text", "is_text_data",
           "labeled_ids", "similar_words", "source_ids"]
