"""Tokenizers: round trip, the fixed special ids, [CLS] ... [SEP] encoding, padding and truncation."""

import pytest
import torch

from ssrl.data.tokenize import CLS, FIRST_ORDINARY, PAD, SEP, SPECIAL_TOKENS, decode, encode, train_tokenizer
from ssrl.errors import SsrlError

CORPUS = [
    "a domestic animal kept as a pet; \"the cat sat on the mat\"",
    "a large body of water surrounded by land",
    "move quickly on foot, faster than walking",
    "an Élan of musical notes played together (chord)",
] * 5


@pytest.mark.parametrize("kind", ["bpe", "wordpiece", "word"])
def test_special_tokens_have_fixed_ids(kind):
    tok = train_tokenizer(CORPUS, kind, vocab_size=400, min_frequency=1)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(FIRST_ORDINARY))


def test_byte_level_bpe_round_trip_is_exact():
    tok = train_tokenizer(CORPUS, "bpe", vocab_size=400, min_frequency=1)
    texts = CORPUS[:4] + ["unseen words: zebra quux, 42 × 7 — ok?"]
    ids = encode(tok, texts, 128)
    for text, row in zip(texts, ids):
        assert decode(tok, row) == text


def test_wordpiece_round_trip_up_to_case_and_spacing():
    tok = train_tokenizer(CORPUS, "wordpiece", vocab_size=400, min_frequency=1)
    row = encode(tok, ["a large body of water, surrounded by land"], 64)[0]
    assert decode(tok, row) == "a large body of water, surrounded by land"
    assert decode(tok, encode(tok, ["The CAT"], 64)[0]) == "the cat"


def test_encode_adds_cls_sep_pads_and_truncates():
    tok = train_tokenizer(CORPUS, "word", vocab_size=200, min_frequency=1)
    ids = encode(tok, ["the cat sat", CORPUS[0]], 6)
    assert ids.shape == (2, 6) and ids.dtype == torch.long
    assert ids[0].tolist()[:1] == [CLS] and ids[0, 4] == SEP and ids[0, 5] == PAD
    assert ids[1, 0] == CLS and ids[1, -1] == SEP and (ids[1] != PAD).all()   # truncated, [SEP] kept
    with pytest.raises(SsrlError, match="max_len"):
        encode(tok, ["x"], 1)
    with pytest.raises(SsrlError, match="unknown tokenizer"):
        train_tokenizer(CORPUS, "chars")
