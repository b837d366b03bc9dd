"""Token corruption, the shared piece of P for the text methods.

Every function takes a batch of ids (B, T), ``[CLS] tokens [SEP]`` padded with 0 after the
end (``ssrl.data.tokenize``), and corrupts only ordinary tokens (ids ≥ ``FIRST_ORDINARY`` and [UNK]):
[CLS], [SEP] and padding are never selected.

- ``bert_mask``: BERT's masked-LM corruption (Devlin et al., 2019, arXiv:1810.04805, §3.1).
- ``span_corrupt``: T5's span corruption (Raffel et al., 2020, arXiv:1910.10683, §3.1.4).
- ``delete_tokens`` and ``shuffle_tokens``: the token deletion and deshuffling objectives T5
  compares against it (§3.3.1, table 3); the target is the original text.
"""

import torch

from ssrl.data.tokenize import FIRST_ORDINARY, MASK, NUM_SENTINELS, PAD, SENTINEL, SEP, UNK

IGNORE = -100  # target value cross_entropy skips


def ordinary(ids: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: True at the tokens a pretext task may corrupt (text, [UNK] included)."""
    return (ids >= FIRST_ORDINARY) | (ids == UNK)


def bert_mask(ids: torch.Tensor, vocab_size: int, rate: float = 0.15, replace: tuple[float, float] = (0.8, 0.1),
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Select each ordinary token with probability ``rate``; of the selected, a fraction
    ``replace[0]`` becomes [MASK], ``replace[1]`` a uniformly random ordinary token, the rest
    stay unchanged (BERT's 80/10/10).

    Returns ``inputs`` (B, T) and ``targets`` (B, T): the original id at selected positions,
    ``IGNORE`` elsewhere, so the loss counts the selected positions only.
    """
    u = torch.rand(ids.shape, device=ids.device, generator=generator)
    selected = ordinary(ids) & (u < rate)
    v = torch.rand(ids.shape, device=ids.device, generator=generator)
    to_mask = selected & (v < replace[0])
    to_random = selected & (v >= replace[0]) & (v < replace[0] + replace[1])
    random_ids = torch.randint(FIRST_ORDINARY, vocab_size, ids.shape, device=ids.device, generator=generator)
    inputs = torch.where(to_mask, torch.full_like(ids, MASK), torch.where(to_random, random_ids, ids))
    targets = torch.where(selected, ids, torch.full_like(ids, IGNORE))
    return inputs, targets


def _span_mask(n: int, noise_density: float, mean_span: float, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) bool noise mask of one sequence, as T5's ``random_spans_noise_mask``: round(n·density)
    noise tokens (at least 1, at most n − 1) in round(noise/mean_span) spans (at least 1), the
    noise and the non-noise each cut at random into that many non-empty segments, interleaved
    starting with non-noise."""
    noise = min(max(round(n * noise_density), 1), n - 1)
    spans = min(max(round(noise / mean_span), 1), noise, n - noise, NUM_SENTINELS)

    def segments(total: int) -> torch.Tensor:  # `spans` positive lengths summing to total
        cuts = torch.randperm(total - 1, generator=generator)[:spans - 1].sort().values + 1
        edges = torch.cat([torch.tensor([0]), cuts, torch.tensor([total])])
        return edges.diff()

    mask = torch.zeros(n, dtype=torch.bool)
    start = 0
    for keep, drop in zip(segments(n - noise).tolist(), segments(noise).tolist()):
        start += keep
        mask[start:start + drop] = True
        start += drop
    return mask


def span_corrupt(ids: torch.Tensor, noise_density: float = 0.15, mean_span: float = 3.0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace random spans of each row's ordinary tokens by sentinels [S0], [S1], ...

    Returns ``inputs`` (B, Ti): the row with each span replaced by one sentinel, and
    ``targets`` (B, Tt): ``[S0] span0 [S1] span1 ... [SEP]``; both padded with 0. Putting each
    target span back in place of its sentinel gives the original row. Rows with fewer than
    two ordinary tokens pass unchanged, with the target ``[SEP]``. Works on the CPU (a loop
    over rows: sequences are short) and returns tensors on the device of ``ids``.
    """
    rows_in, rows_out = [], []
    for row in ids.cpu():
        body = row[ordinary(row)]
        head, tail = row[:1], row[1 + len(body):(row != PAD).sum()]  # [CLS]; [SEP] if not cut off
        if len(body) < 2:
            rows_in.append(row[row != PAD])
            rows_out.append(torch.tensor([SEP]))
            continue
        noise = _span_mask(len(body), noise_density, mean_span, generator)
        starts = noise & ~torch.cat([torch.tensor([False]), noise[:-1]])      # first token of each span
        sentinel = SENTINEL + starts.cumsum(0) - 1                             # each token's span's sentinel
        rows_in.append(torch.cat([head, torch.where(starts, sentinel, body)[~noise | starts], tail]))
        target = []
        for start, token, s in zip(starts[noise].tolist(), body[noise].tolist(), sentinel[noise].tolist()):
            target += [s, token] if start else [token]
        rows_out.append(torch.tensor(target + [SEP]))
    return _pad(rows_in).to(ids.device), _pad(rows_out).to(ids.device)


def _pad(rows: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD)


def delete_tokens(ids: torch.Tensor, rate: float = 0.15, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each row with each ordinary token dropped with probability ``rate`` (inputs of T5's token
    deletion objective), re-packed and padded with 0."""
    drop = ordinary(ids) & (torch.rand(ids.shape, generator=generator, device=ids.device) < rate)
    return _pad([row[(row != PAD) & ~d] for row, d in zip(ids, drop)])


def shuffle_tokens(ids: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each row with its ordinary tokens in a uniformly random order (T5's deshuffling inputs)."""
    out = ids.clone()
    for row in out:
        where = ordinary(row).nonzero().flatten()
        row[where] = row[where[torch.randperm(len(where), generator=generator, device=ids.device)]]
    return out
