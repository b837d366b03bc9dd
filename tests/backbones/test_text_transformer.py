"""Text Transformer backbones: shapes, padding ignored, causal model blind to later tokens."""

import pytest
import torch

from ssrl.backbones import build_backbone
from ssrl.backbones.text_transformer import TextTransformer, trim_padding
from ssrl.data.tokenize import CLS, PAD

VOCAB, T = 60, 12


def ids(b=3, t=T, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(37, VOCAB, (b, t), generator=g)
    x[:, 0] = CLS
    return x


def tiny(causal: bool) -> TextTransformer:
    torch.manual_seed(0)
    return TextTransformer(VOCAB, T, dim=16, depth=2, heads=2, causal=causal).eval()


@pytest.mark.parametrize("name", ["text-encoder-mini", "text-causal-mini"])
def test_registered_shapes_and_gradients(name):
    net = build_backbone(name, VOCAB, T, seed=0)
    x = ids()
    assert net.tokens(x).shape == (3, T, 256) and net(x).shape == (3, net.dim) == (3, 256)
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_causal_model_cannot_see_future_tokens():
    net = tiny(causal=True)
    x = ids()
    for t in range(1, T):
        later = x.clone()
        later[:, t:] = torch.randint(37, VOCAB, (3, T - t))
        with torch.no_grad():
            a, b = net.tokens(x), net.tokens(later)
        torch.testing.assert_close(a[:, :t], b[:, :t])
        assert not torch.allclose(a[:, t:], b[:, t:])


def test_bidirectional_model_sees_the_whole_document():
    net = tiny(causal=False)
    x = ids()
    later = x.clone()
    later[:, -1] = (later[:, -1] + 1 - 37) % (VOCAB - 37) + 37
    with torch.no_grad():
        assert not torch.allclose(net.tokens(x)[:, 0], net.tokens(later)[:, 0])


@pytest.mark.parametrize("causal", [False, True])
def test_padding_changes_nothing(causal):
    net = tiny(causal)
    x = ids(t=7)
    padded = torch.cat([x, torch.full((3, 5), PAD)], 1)
    with torch.no_grad():
        torch.testing.assert_close(net.tokens(padded)[:, :7], net.tokens(x))
        for pool in ("mean", "first"):
            net.pool = pool
            torch.testing.assert_close(net(padded), net(x))


def test_mean_pool_is_the_mean_over_real_tokens():
    net = tiny(causal=False)
    x = ids(b=2)
    x[1, 5:] = PAD
    with torch.no_grad():
        h = net.tokens(x)
        torch.testing.assert_close(net(x)[1], net.tokens(x[1:, :5])[0].mean(0))
        net.pool = "first"
        torch.testing.assert_close(net(x), h[:, 0])


def test_trim_padding_and_too_long_input():
    x = torch.tensor([[2, 40, 0, 0], [2, 41, 42, 0]])
    assert trim_padding(x).shape == (2, 3)
    with pytest.raises(ValueError, match="at most 12"):
        tiny(False).tokens(torch.cat([ids(), ids()[:, :1]], 1))
