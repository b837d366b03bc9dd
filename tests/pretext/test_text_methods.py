"""Text pretext methods (all but word2vec) on a tiny text Transformer: P, k_γ and L checked against direct computations."""

import pytest
import torch
import torch.nn.functional as F

from ssrl.backbones import build_backbone
from ssrl.backbones.text_transformer import TextTransformer, causal_mask
from ssrl.data.tokenize import CLS, FIRST_ORDINARY, PAD, SENTINEL, SEP
from ssrl.errors import SsrlError
from ssrl.pretext import METHODS, method_config
from ssrl.pretext.next_token import prefix_mask
from ssrl.pretext.sentence_order import segment_pairs
from ssrl.pretext.token_masks import IGNORE, span_corrupt

TEXT_METHODS = sorted(n for n, c in METHODS.items() if c.modality == "text" and n != "word2vec")  # word2vec: test_word2vec
VOCAB, T = 80, 16


def documents(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(FIRST_ORDINARY, VOCAB, (b, T), generator=g)
    x[:, 0] = CLS
    for row, n in zip(x, torch.randint(6, T, (b,), generator=g).tolist()):
        row[n - 1], row[n:] = SEP, PAD
    return x


def method(name, causal=False, **params):
    torch.manual_seed(0)
    backbone = TextTransformer(VOCAB, T, dim=32, depth=2, heads=2, causal=causal)
    return METHODS[name](backbone, method_config(name, params), None)


OPTIONS = [("span_corruption", {"objective": o}) for o in ("infilling", "deletion", "deshuffle")] + [
           ("span_corruption", {"share_decoder": True}),
           ("next_token", {"prefix_lm": True})]


@pytest.mark.parametrize("name, params", [(n, {}) for n in TEXT_METHODS] + OPTIONS)
def test_forward_backward_reaches_backbone_and_head(name, params):
    m = method(name, **params)
    torch.manual_seed(1)
    loss, logs = m.loss(*m.pseudolabels(documents()))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert m.backbone.embed.weight.grad.abs().sum() > 0 and m.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in m.head.parameters())


@pytest.mark.parametrize("name", TEXT_METHODS)
def test_text_methods_refuse_an_image_backbone(name):
    with pytest.raises(SsrlError, match="text backbone"):
        METHODS[name](build_backbone("convnet-small", 1, 16), method_config(name), None)


def test_masked_lm_loss_is_cross_entropy_on_the_selected_positions_only():
    m = method("masked_lm")
    torch.manual_seed(2)
    inputs, z = m.pseudolabels(documents())
    loss, _ = m.loss(inputs, z)
    logits = m.head(m.backbone.tokens(inputs))                     # every position
    per_token = F.cross_entropy(logits.flatten(0, 1), z.flatten(), reduction="none", ignore_index=IGNORE)
    torch.testing.assert_close(loss, per_token.sum() / (z != IGNORE).sum())
    z2 = z.clone()
    z2[z == IGNORE] = 0                                            # targets elsewhere would change the loss
    assert not torch.isclose(F.cross_entropy(logits.flatten(0, 1), z2.flatten()), loss)


@pytest.mark.parametrize("tie", [True, False])
def test_masked_lm_output_layer_is_the_input_embedding_table_when_tied(tie):
    m = method("masked_lm", tie_embeddings=tie)
    out = m.head[-1]
    assert (out.weight is m.backbone.embed.weight) == tie
    if tie:  # logits are scores against the token vectors h_θ embeds its input with
        h = torch.randn(5, 32)
        torch.testing.assert_close(m.head(h), m.head[:-1](h) @ m.backbone.embed.weight.T + out.bias)
    n_params = sum(p.numel() for p in m.parameters())  # shared weights count once
    assert n_params == sum(p.numel() for p in m.backbone.parameters()) + sum(
        p.numel() for p in m.head.parameters() if not (tie and p is m.backbone.embed.weight))


def test_next_token_targets_are_the_next_ids_and_attention_is_causal():
    m = method("next_token", causal=True)
    x = documents()
    (inputs, allowed), z = m.pseudolabels(x)
    real = (inputs != PAD).sum(1)
    for row, zrow, n in zip(inputs, z, real.tolist()):
        assert torch.equal(zrow[:n - 1], row[1:n]) and (zrow[n - 1:] == IGNORE).all()
    assert torch.equal(allowed, causal_mask(inputs.shape[1]))
    loss, _ = m.loss((inputs, allowed), z)
    logits = m.head(m.backbone.tokens(inputs))
    torch.testing.assert_close(loss, F.cross_entropy(logits.flatten(0, 1), z.flatten(), ignore_index=IGNORE))


def test_prefix_lm_sees_the_prefix_both_ways_and_predicts_only_after_it():
    allowed = prefix_mask(torch.tensor([3]), 6)[0]
    expected = causal_mask(6)
    expected[:, :3] = True
    assert torch.equal(allowed, expected)
    m = method("next_token", prefix_lm=True)
    torch.manual_seed(3)
    (inputs, allowed), z = m.pseudolabels(documents(50))
    prefix = allowed[:, 0].sum(1)                                  # query 0 sees exactly the prefix
    lengths = (inputs != PAD).sum(1)
    assert (prefix >= 1).all() and (prefix <= lengths - 1).all() and len(prefix.unique()) > 3
    for zrow, p, n in zip(z, prefix.tolist(), lengths.tolist()):
        assert (zrow[:p - 1] == IGNORE).all() and (zrow[p - 1:n - 1] != IGNORE).all()


@pytest.mark.parametrize("share", [False, True])
def test_span_decoder_is_causal_and_loss_is_teacher_forced_cross_entropy(share):
    m = method("span_corruption", share_decoder=share)
    torch.manual_seed(4)
    inputs, z = m.pseudolabels(documents())
    loss, _ = m.loss(inputs, z)
    memory = m.backbone.tokens(inputs)
    dec_in = torch.cat([torch.full_like(z[:, :1], CLS), z[:, :-1]], 1)
    logits = m.head(dec_in, memory, inputs)
    torch.testing.assert_close(loss, F.cross_entropy(logits.flatten(0, 1), z.flatten(), ignore_index=PAD))
    changed = dec_in.clone()
    changed[:, 2:] = FIRST_ORDINARY
    changed[dec_in == PAD] = PAD
    with torch.no_grad():
        torch.testing.assert_close(m.head(changed, memory, inputs)[:, :2], logits[:, :2].detach())


@pytest.mark.parametrize("tie", [True, False])
def test_span_decoder_output_layer_is_the_input_embedding_table_when_tied(tie):
    m = method("span_corruption", tie_embeddings=tie)
    assert (m.head.out.weight is m.backbone.embed.weight) == tie
    torch.manual_seed(5)
    inputs, z = m.pseudolabels(documents())
    m.loss(inputs, z)[0].backward()
    unseen = torch.ones(VOCAB, dtype=torch.bool)                  # ids neither h_θ nor k_γ reads
    unseen[torch.cat([inputs.flatten(), z.flatten(), torch.tensor([CLS])])] = False
    assert unseen.any()
    # every logit's gradient reaches h_θ's table only through the tied output layer
    assert (m.backbone.embed.weight.grad[unseen].abs().sum() > 0) == tie


def test_shared_span_decoder_runs_h_theta_s_own_blocks():
    m = method("span_corruption", share_decoder=True)
    assert m.head.blocks is m.backbone.blocks and m.head.embed is m.backbone.embed and m.head.norm is m.backbone.norm
    own = {id(p) for p in m.head.parameters()} - {id(p) for p in m.backbone.parameters()}
    assert own == {id(p) for p in (m.head.pos_embed, m.head.out_bias,
                                   *m.head.cross.parameters(), *m.head.cross_norms.parameters())}
    inputs, z = m.pseudolabels(documents())
    memory = m.backbone.tokens(inputs)
    dec_in = torch.cat([torch.full_like(z[:, :1], CLS), z[:, :-1]], 1)
    before = m.head(dec_in, memory, inputs)
    with torch.no_grad():
        m.backbone.blocks[0].mlp[0].weight.mul_(2)                # h_θ's weights are k_γ's too
    assert not torch.allclose(m.head(dec_in, memory, inputs), before)


@pytest.mark.parametrize("objective", ["infilling", "deletion", "deshuffle"])
def test_whole_document_objectives_target_the_document_after_cls(objective):
    m = method("span_corruption", objective=objective)
    x = documents()
    torch.manual_seed(6)
    inputs, z = m.pseudolabels(x)
    for row, zrow, irow in zip(x, z, inputs):
        real, seen = row[row != PAD], irow[irow != PAD]
        assert torch.equal(zrow[zrow != PAD], real[1:]) and seen[0] == CLS
        sentinels = (seen >= SENTINEL) & (seen < FIRST_ORDINARY)
        if objective == "infilling":                               # T5's input: each span one sentinel
            assert sentinels.any() and len(seen) <= len(real)
        else:
            assert not sentinels.any()
    if objective == "infilling":
        torch.manual_seed(6)
        assert torch.equal(inputs, span_corrupt(x, m.cfg.noise_density, m.cfg.mean_span)[0])


@pytest.mark.parametrize("task", ["sop", "nsp"])
def test_sentence_pairs_are_the_document_cut_in_two(task):
    x = documents(200)
    x[0, 2:] = PAD                                                 # one token only: left out
    x[0, 1] = FIRST_ORDINARY
    bodies = [row[row >= FIRST_ORDINARY] for row in x[1:]]
    inputs, z = segment_pairs(x, task, T, generator=torch.Generator().manual_seed(0))
    assert len(inputs) == len(z) == 199 and 0.4 < z.float().mean() < 0.6
    others = {tuple(b.tolist()) for b in bodies}
    for row, label, body in zip(inputs, z.tolist(), bodies):
        row = row[row != PAD]
        assert row[0] == CLS and row[-1] == SEP and (row == SEP).sum() == 2
        sep = int((row == SEP).nonzero()[0])
        a, b = row[1:sep].tolist(), row[sep + 1:-1].tolist()
        if task == "sop":
            assert (b + a if label else a + b) == body.tolist()
        else:
            assert a == body.tolist()[:len(a)]
            assert (a + b == body.tolist()) != bool(label)
            if label:
                assert any(o[i:i + len(b)] == tuple(b) for o in others for i in range(len(o)))  # from some document


def test_sentence_order_classifies_the_cls_output():
    m = method("sentence_order")
    torch.manual_seed(5)
    inputs, z = m.pseudolabels(documents())
    loss, _ = m.loss(inputs, z)
    torch.testing.assert_close(loss, F.cross_entropy(m.head(m.backbone.tokens(inputs)[:, 0]), z))


@pytest.mark.parametrize("name", TEXT_METHODS)
def test_loss_under_bf16_autocast_is_float32_and_near_the_float32_loss(name):
    """As for the image methods (test_methods): bf16-mixed leaves the loss in float32, within
    bfloat16's rounding of the float32 loss."""
    losses = []
    for autocast in (False, True):
        m = method(name, causal=name == "next_token")
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            losses.append(m.loss(*m.pseudolabels(documents()))[0])
    full, mixed = losses
    assert mixed.dtype == torch.float32 and torch.isfinite(mixed)
    assert mixed.item() == pytest.approx(full.item(), rel=0.05, abs=0.02)
