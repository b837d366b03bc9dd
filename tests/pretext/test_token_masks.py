"""Token corruption: BERT's 80/10/10 statistics, T5's spans reassemble the text, deletion, deshuffling."""

import torch

from ssrl.data.tokenize import CLS, FIRST_ORDINARY, MASK, PAD, SENTINEL, SEP
from ssrl.pretext.token_masks import IGNORE, bert_mask, delete_tokens, shuffle_tokens, span_corrupt

VOCAB = 1000


def documents(b=64, t=40, seed=0):
    """[CLS] tokens [SEP] padding, of random lengths, ordinary ids only inside."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(FIRST_ORDINARY, VOCAB, (b, t), generator=g)
    lengths = torch.randint(3, t + 1, (b,), generator=g)
    lengths[0] = t                                          # one row cut off: no [SEP]
    for row, n in zip(ids, lengths.tolist()):
        row[0] = CLS
        if n < t:
            row[n - 1] = SEP
            row[n:] = PAD
    return ids


def test_bert_mask_selects_15_percent_and_replaces_80_10_10():
    ids = documents(2000, 40)
    inputs, targets = bert_mask(ids, VOCAB, generator=torch.Generator().manual_seed(1))
    eligible = ids >= FIRST_ORDINARY
    selected = targets != IGNORE
    assert not (selected & ~eligible).any()                 # never [CLS], [SEP] or padding
    assert torch.equal(targets[selected], ids[selected])    # targets are the original ids
    assert torch.equal(inputs[~selected], ids[~selected])   # unselected tokens untouched
    n = int(selected.sum())
    assert abs(n / int(eligible.sum()) - 0.15) < 0.005
    masked = (inputs[selected] == MASK).float().mean().item()
    unchanged = (inputs[selected] == ids[selected]).float().mean().item()
    changed = ((inputs[selected] != MASK) & (inputs[selected] != ids[selected])).float().mean().item()
    assert abs(masked - 0.8) < 0.01
    # a random replacement draws the original id with probability 1/(VOCAB − FIRST_ORDINARY)
    random_share = changed / (1 - 1 / (VOCAB - FIRST_ORDINARY))
    assert abs(random_share - 0.1) < 0.01 and abs(unchanged - (0.2 - random_share)) < 0.01
    assert (inputs[selected & (inputs != MASK)] >= FIRST_ORDINARY).all()


def _reassemble(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each sentinel of the input replaced by the tokens that follow it in the target."""
    spans, current = {}, None
    for token in targets.tolist():
        if token in (SEP, PAD):
            break
        if SENTINEL <= token < FIRST_ORDINARY:
            current = spans.setdefault(token, [])
        else:
            current.append(token)
    out = []
    for token in inputs.tolist():
        out += spans.pop(token) if SENTINEL <= token < FIRST_ORDINARY else [token]
    assert not spans, "every target span has a sentinel in the input"
    return torch.tensor(out)


def test_span_corruption_inputs_and_targets_reassemble_the_document():
    ids = documents(200, 40)
    torch.manual_seed(0)
    inputs, targets = span_corrupt(ids)
    corrupted = 0
    for row, i, t in zip(ids, inputs, targets):
        assert torch.equal(_reassemble(i[i != PAD], t), row[row != PAD])
        sentinels = ((i >= SENTINEL) & (i < FIRST_ORDINARY)).sum().item()
        assert sentinels == ((t >= SENTINEL) & (t < FIRST_ORDINARY)).sum().item()
        assert sentinels >= 1 or (row >= FIRST_ORDINARY).sum() < 2   # shorter rows pass unchanged
        corrupted += (t[t != PAD] != SEP).sum().item() - sentinels
    real = (ids >= FIRST_ORDINARY).sum().item()
    assert abs(corrupted / real - 0.15) < 0.03                # noise density, rounded per document


def test_span_lengths_average_near_three():
    ids = documents(300, 64, seed=2)
    torch.manual_seed(3)
    _, targets = span_corrupt(ids, mean_span=3.0)
    sentinels = ((targets >= SENTINEL) & (targets < FIRST_ORDINARY)).sum().item()
    tokens = (targets >= FIRST_ORDINARY).sum().item()
    assert 2.3 < tokens / sentinels < 3.7


def test_deletion_keeps_order_and_shuffle_keeps_the_multiset():
    ids = documents(50, 30)
    g = torch.Generator().manual_seed(0)
    kept = delete_tokens(ids, 0.3, generator=g)
    shuffled = shuffle_tokens(ids, generator=g)
    for row, k, s in zip(ids, kept, shuffled):
        real, k = row[row != PAD].tolist(), k[k != PAD].tolist()
        it = iter(real)
        assert all(token in it for token in k)             # a subsequence: order kept
        assert k[0] == CLS and (real[-1] != SEP or k[-1] == SEP)
        assert torch.equal(s[0], row[0]) and torch.equal(s[row == SEP], row[row == SEP])
        assert sorted(s.tolist()) == sorted(row.tolist())
    assert kept.shape[1] < ids.shape[1] and not torch.equal(shuffled, ids)
