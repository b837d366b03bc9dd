"""word2vec: noise distribution, subsampling, dynamic windows, the loss against its formula, word vectors out."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssrl.backbones.word_embeddings import WordEmbeddings
from ssrl.data.tokenize import FIRST_ORDINARY, PAD
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.word_contexts import keep_probability, noise_distribution, skipgram_pairs, subsample
from ssrl.word_vectors import nearest_words, write_word2vec

V = FIRST_ORDINARY + 6


def test_negative_samples_follow_unigram_to_the_three_quarters():
    counts = torch.zeros(V, dtype=torch.long)
    counts[FIRST_ORDINARY:] = torch.tensor([1, 10, 100, 1000, 5, 50])
    counts[:FIRST_ORDINARY] = 99                              # specials are never noise
    p = noise_distribution(counts)
    expected = torch.tensor([1, 10, 100, 1000, 5, 50], dtype=torch.float64) ** 0.75
    torch.testing.assert_close(p[FIRST_ORDINARY:].double(), expected / expected.sum(), rtol=1e-6, atol=0)
    assert (p[:FIRST_ORDINARY] == 0).all()
    m = METHODS["word2vec"](WordEmbeddings(V, 8), method_config("word2vec", {"negatives": 20}), None)
    m.on_train_epoch_start(0, torch.repeat_interleave(torch.arange(V), counts)[None], None)
    torch.testing.assert_close(m.noise, p)
    docs = torch.arange(FIRST_ORDINARY, V).repeat(400, 1)     # every word once per row: nothing near-duplicated
    m.keep.fill_(1.0)
    m.keep[:FIRST_ORDINARY] = 0
    torch.manual_seed(0)
    _, z = m.pseudolabels(docs)
    drawn = torch.bincount(z[:, 1:].flatten(), minlength=V).double()
    assert drawn[:FIRST_ORDINARY].sum() == 0
    freq = drawn[FIRST_ORDINARY:] / drawn.sum()
    torch.testing.assert_close(freq, p[FIRST_ORDINARY:].double(), atol=0.005, rtol=0)


def test_subsampling_keeps_sqrt_t_over_f_and_the_order():
    counts = torch.zeros(V, dtype=torch.long)
    counts[FIRST_ORDINARY:] = torch.tensor([1000, 10, 10, 10, 10, 10])
    keep = keep_probability(counts, t=0.05)
    f = 1000 / 1050
    assert keep[FIRST_ORDINARY].item() == pytest.approx(math.sqrt(0.05 / f))
    assert (keep[FIRST_ORDINARY + 1:] == 1).all() and (keep[:FIRST_ORDINARY] == 0).all()
    docs = torch.tensor([[2] + list(range(FIRST_ORDINARY, V)) * 3 + [3, 0, 0]]).repeat(4000, 1)
    out = subsample(docs, keep, generator=torch.Generator().manual_seed(0))
    frequent = (out == FIRST_ORDINARY).sum().item() / (3 * 4000)
    assert frequent == pytest.approx(math.sqrt(0.05 / f), abs=0.01)
    assert ((out == 2) | (out == 3)).sum() == 0              # special tokens removed
    rare = out[(out != FIRST_ORDINARY) & (out != PAD)].view(4000, -1)  # what stays keeps its order...
    assert (rare == torch.arange(FIRST_ORDINARY + 1, V).repeat(3)).all()
    lengths = (out != PAD).sum(1)                                      # ...packed to the left
    assert (out[torch.arange(out.shape[1])[None, :] >= lengths[:, None]] == PAD).all()


def test_skipgram_pairs_lie_in_a_dynamic_window():
    window, t = 4, 30
    row = torch.arange(FIRST_ORDINARY, FIRST_ORDINARY + t)    # word id tells its position
    docs = row.repeat(3000, 1)
    centres, contexts = skipgram_pairs(docs, window, generator=torch.Generator().manual_seed(0))
    d = (contexts - centres).abs()
    assert d.min() >= 1 and d.max() <= window
    # P(a word at distance d is used) = P(b ≥ d) = (window − d + 1) / window, b uniform in 1..window
    interior = (centres >= FIRST_ORDINARY + window) & (centres < FIRST_ORDINARY + t - window)
    centres_inside = 3000 * (t - 2 * window)                  # each has all 2·window neighbours
    for dist in range(1, window + 1):                         # two sides, each used when b ≥ dist
        per_centre = ((d == dist) & interior).sum().item() / centres_inside
        assert per_centre == pytest.approx(2 * (window - dist + 1) / window, abs=0.02)


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_loss_is_negative_sampling_formula(architecture):
    torch.manual_seed(0)
    m = METHODS["word2vec"](WordEmbeddings(V, 8), method_config("word2vec", {"architecture": architecture}), None)
    m.head.weight.data.copy_(torch.randn_like(m.head.weight) * 0.3)  # zero at init: scores would all be 0
    docs = torch.randint(FIRST_ORDINARY, V, (5, 12))
    m.on_train_epoch_start(0, docs, None)
    inputs, z = m.pseudolabels(docs)
    assert z.shape == (len(inputs), 1 + 5)
    if architecture == "cbow":                                 # the target is a centre word, never its own context
        assert inputs.shape[1] == 10 and ((inputs != PAD).sum(1) >= 1).all()
    loss, _ = m.loss(inputs, z)
    expected = []
    for i, zz in zip(inputs, z):
        h = m.backbone.embed(i[i != PAD]).mean(0)
        u = m.head(zz)
        expected.append(-F.logsigmoid(u[0] @ h) - F.logsigmoid(-(u[1:] @ h)).sum())
    torch.testing.assert_close(loss, torch.stack(expected).mean())
    loss.backward()
    assert m.backbone.embed.weight.grad.abs().sum() > 0 and m.head.weight.grad.abs().sum() > 0


def test_word2vec_needs_a_word_embedding_backbone():
    from ssrl.backbones.text_transformer import TextTransformer

    with pytest.raises(SsrlError, match="word-embeddings-100"):
        METHODS["word2vec"](TextTransformer(V, 8, 8, 1, 1, False), method_config("word2vec"), None)


def test_word2vec_text_format_and_nearest_words(tmp_path):
    words = ["cat", "dog", "car"]
    vectors = np.array([[1.0, 0.1], [0.9, 0.2], [-0.1, 1.0]], dtype=np.float32)
    write_word2vec(tmp_path / "v.txt", words, vectors)
    lines = (tmp_path / "v.txt").read_text().splitlines()
    assert lines[0] == "3 2" and lines[2].split()[0] == "dog"
    np.testing.assert_allclose(np.array([[float(x) for x in line.split()[1:]] for line in lines[1:]]), vectors, rtol=1e-5)
    assert [w for w, _ in nearest_words(words, vectors, "cat", 2)] == ["dog", "car"]
    with pytest.raises(SsrlError, match="not in the run's vocabulary"):
        nearest_words(words, vectors, "emu")
