import math

import pytest
import torch
import torch.nn.functional as F

from ssrl.backbones import build_backbone, list_backbones
from ssrl.backbones.vit import SIZES, attention, patch_size_for


def _vit(channels=1, size=28):
    return build_backbone("vit-mini", channels, size, seed=0)


def _layer_norm(z, norm):
    return (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + norm.eps) * norm.weight + norm.bias


def reference_tokens(net, x, keep):
    """The encoder written out from the paper's equations (arXiv:2010.11929, eq. 1–4), one image
    and one head at a time, building only the kept patches' tokens: the oracle for ``tokens``."""
    p, out = net.patch_size, []
    for image, kept in zip(x, keep):
        patches = F.unfold(image[None], p, stride=p)[0].T                       # (n, C·p·p), row-major
        e = patches @ net.patch_embed.weight.flatten(1).T + net.patch_embed.bias  # (n, dim)
        z = torch.cat([net.cls_token[0] + net.pos_embed[0, :1], (e + net.pos_embed[0, 1:])[kept]])
        for block in net.blocks:
            q, k, v = (_layer_norm(z, block.norm1) @ block.attn.qkv.weight.T + block.attn.qkv.bias).chunk(3, dim=-1)
            heads = []
            for qh, kh, vh in zip(*(t.chunk(block.attn.heads, dim=-1) for t in (q, k, v))):
                heads.append(torch.softmax(qh @ kh.T / math.sqrt(qh.shape[-1]), dim=-1) @ vh)
            z = z + torch.cat(heads, dim=-1) @ block.attn.proj.weight.T + block.attn.proj.bias
            fc1, fc2 = block.mlp[0], block.mlp[2]
            z = z + F.gelu(_layer_norm(z, block.norm2) @ fc1.weight.T + fc1.bias) @ fc2.weight.T + fc2.bias
        out.append(_layer_norm(z, net.norm))
    return torch.stack(out)


def test_vits_are_registered():
    assert set(SIZES) == {"vit-mini", "vit-tiny", "vit-small"} <= set(list_backbones())


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32])
def test_features_are_the_cls_token(channels, size):
    net = _vit(channels, size)
    x = torch.rand(2, channels, size, size)
    h = net(x)
    assert h.shape == (2, net.dim) == (2, 128)
    torch.testing.assert_close(h, net.tokens(x)[:, 0])
    assert net.tokens(x).shape == (2, 1 + net.num_patches(size), net.dim)


def test_patch_size_rule():
    assert [patch_size_for(s) for s in (12, 28, 32, 63, 64, 96, 127, 128, 224)] == [4, 4, 4, 4, 8, 8, 8, 16, 16]
    assert _vit(1, 28).num_patches(28) == 49 and _vit(3, 32).num_patches(32) == 64
    assert build_backbone("vit-tiny", 3, 224).num_patches(224) == 196


@pytest.mark.parametrize("name", ["vit-tiny", "vit-small"])
def test_parameter_count_is_the_papers_architecture(name):
    # Patch embedding, CLS, 197 position embeddings, per block 12d² + 13d (qkv, proj, 4× MLP,
    # two LayerNorms), the final LayerNorm: DeiT-Ti/S less the classifier (5.5M, 21.7M).
    d, depth, _ = SIZES[name]
    expected = 3 * 16 * 16 * d + d + d + 197 * d + depth * (12 * d * d + 13 * d) + 2 * d
    with torch.device("meta"):  # shapes only: no memory, no init time
        net = build_backbone(name, 3, 224)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_gradient_reaches_every_parameter():
    net = _vit()
    net(torch.rand(2, 1, 28, 28)).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_tokens_match_the_reference():
    net, x = _vit(), torch.rand(2, 1, 28, 28)
    keep = torch.arange(49).expand(2, -1)
    with torch.no_grad():
        torch.testing.assert_close(net.tokens(x), reference_tokens(net, x, keep), atol=1e-5, rtol=1e-4)


def test_keep_runs_the_encoder_on_the_kept_patches_alone():
    # MAE's masking: argsort of noise, a different subset for every image.
    net, x = _vit(), torch.rand(3, 1, 28, 28)
    keep = torch.rand(3, 49).argsort(dim=1)[:, :12]
    with torch.no_grad():
        t = net.tokens(x, keep)
        assert t.shape == (3, 13, net.dim)
        torch.testing.assert_close(t, reference_tokens(net, x, keep), atol=1e-5, rtol=1e-4)


def test_keeping_every_patch_in_any_order_permutes_the_tokens():
    net, x = _vit(), torch.rand(2, 1, 28, 28)
    order = torch.rand(2, 49).argsort(dim=1)
    with torch.no_grad():
        full, shuffled = net.tokens(x), net.tokens(x, order)
    torch.testing.assert_close(shuffled[:, 0], full[:, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(shuffled[:, 1:], full[:, 1:].gather(1, order[..., None].expand(-1, -1, net.dim)),
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("h, w", [(16, 16), (12, 12), (16, 28), (32, 32)])
def test_other_input_sizes_resize_the_position_embeddings(h, w):
    net = _vit(1, 28)
    assert torch.equal(net.patch_pos_embed(7, 7), net.pos_embed[:, 1:])
    assert net.patch_pos_embed(h // 4, w // 4).shape == (1, h // 4 * w // 4, net.dim)
    h_ = net(torch.rand(2, 1, h, w))
    assert h_.shape == (2, net.dim) and torch.isfinite(h_).all()
    h_.square().sum().backward()  # a plain sum of LayerNorm outputs has no gradient
    assert net.pos_embed.grad[0, 1:].abs().sum() > 0


def test_bad_sizes_raise_value_errors_naming_them():
    with pytest.raises(ValueError, match="30×30 px.*4-px patch"):
        build_backbone("vit-mini", 1, 30)
    net = _vit(1, 28)
    with pytest.raises(ValueError, match="15×15 px.*4-px patch.*28 px"):
        net(torch.rand(1, 1, 15, 15))
    with pytest.raises(ValueError, match="30 px"):
        net.num_patches(30)
    with pytest.raises(ValueError, match="keep"):
        net.tokens(torch.rand(2, 1, 28, 28), torch.arange(5))


def test_attention_under_cpu_bf16_autocast_runs_in_float32_and_returns_bfloat16():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 9, 8).bfloat16() for _ in range(3))
    allowed = torch.rand(2, 1, 9, 9) > 0.3
    allowed[..., 0] = True  # every query may attend to something
    with torch.autocast("cpu", torch.bfloat16):
        y = attention(q, k, v, allowed)
    expected = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=allowed).bfloat16()
    assert y.dtype == torch.bfloat16 and torch.equal(y, expected)
    q32 = q.float()
    torch.testing.assert_close(attention(q32, k.float(), v.float(), None),
                               F.scaled_dot_product_attention(q32, k.float(), v.float()), rtol=0, atol=0)
