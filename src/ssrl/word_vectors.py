"""Word vectors of a text run: the input embedding table h_θ.embed with the tokenizer's entries,
written in word2vec's text format, and nearest-neighbour word similarity (cosine), the
evaluation the word2vec papers show (Mikolov et al., 2013, arXiv:1301.3781)."""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ssrl.data.tokenize import load_tokenizer
from ssrl.errors import SsrlError
from ssrl.modality.text import TOKENIZER_FILE, vocabulary_vectors, write_word2vec  # noqa: F401  (re-exported)
from ssrl.runs import load_backbone


def word_vectors(run: str | Path) -> tuple[list[str], np.ndarray]:
    """(words, vectors (V, dim)) of the ordinary entries of the run's tokenizer, in id order."""
    return vocabulary_vectors(load_backbone(run), load_tokenizer(Path(run) / TOKENIZER_FILE), str(run))


def nearest_words(words: list[str], vectors: np.ndarray, query: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words of highest cosine similarity to ``query`` (itself left out), with the similarity."""
    index = {w: i for i, w in enumerate(words)}
    if query not in index:
        raise SsrlError(f"{query!r} is not in the run's vocabulary ({len(words)} words)")
    v = F.normalize(torch.from_numpy(vectors).float(), dim=1)
    sims = v @ v[index[query]]
    sims[index[query]] = -2
    top = sims.topk(min(k, len(words) - 1))
    return [(words[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]
