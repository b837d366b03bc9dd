"""Context encoder: the hole is filled with the visible pixels' mean and holds nothing of the
hidden ones, the reconstruction loss counts the hole only, the loss is λ_rec·L_rec (+ λ_adv·L_adv
+ D's own term with ``adversarial``), the generator's term never trains D and D's term never
trains the generator, gradients reach backbone and head, and a tiny run through the engine
writes reconstructions.png."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ssrl.pretext.inpainting  # noqa: F401  (registers "inpainting")
from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.components.adversarial import adversarial_terms
from ssrl.errors import SsrlError
from ssrl.pretext import method_config
from ssrl.pretext.inpainting import Inpainting, fill_holes, hole_mse
from ssrl.pretext.masks import central_square_mask
from ssrl.views import ViewConfig, Views


def _method(channels=1, size=16, backbone="convnet-small", **params):
    torch.manual_seed(0)
    return Inpainting(build_backbone(backbone, channels, size, seed=0), method_config("inpainting", params),
                      Views(ViewConfig.none()))


def _grads(loss, params):
    return torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)


def test_the_hole_is_filled_with_the_mean_of_the_visible_pixels():
    method = _method(channels=3, mask="central")
    x = torch.rand(4, 3, 16, 16)
    inputs, (target, mask) = method.pseudolabels(x)
    assert torch.equal(target, x) and torch.equal(mask, central_square_mask(4, 16, 16))
    assert torch.equal(inputs[~mask.expand_as(x)], x[~mask.expand_as(x)])  # outside the hole: the image
    for c in range(3):
        expected = x[:, c][~mask[:, 0]].mean()
        torch.testing.assert_close(inputs[:, c][mask[:, 0]], expected.expand(4 * 64))
    # and so the inputs hold nothing of the hidden pixels
    other = torch.where(mask, torch.rand_like(x), x)
    assert torch.equal(method.pseudolabels(other)[0], inputs)


@pytest.mark.parametrize("kind", ["central", "block", "region"])
def test_each_mask_kind_hides_about_a_quarter(kind):
    method = _method(mask=kind)
    _, (_, mask) = method.pseudolabels(torch.rand(64, 1, 16, 16))
    hidden = mask.float().mean((1, 2, 3))
    assert (hidden > 0).all() and (hidden <= 0.25).all()
    if kind != "block":
        assert (hidden == 0.25).all()


def test_the_reconstruction_loss_counts_the_hole_only():
    x, pred = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = central_square_mask(2, 8, 8)
    loss = hole_mse(pred, x, mask)
    m = mask.expand_as(x)
    torch.testing.assert_close(loss, ((pred[m] - x[m]) ** 2).mean())
    assert hole_mse(torch.where(m, pred, pred + 1.0), x, mask) == loss   # prediction outside the hole
    assert hole_mse(pred, torch.where(m, x, x + 1.0), mask) == loss      # target outside the hole
    assert hole_mse(torch.where(m, pred + 0.1, pred), x, mask) != loss   # inside: it changes


def test_the_method_loss_ignores_the_target_outside_the_hole():
    method = _method()
    inputs, (x, mask) = method.pseudolabels(torch.rand(4, 1, 16, 16))
    loss, logs = method.loss(inputs, (x, mask))
    torch.testing.assert_close(loss, 0.999 * logs["rec_loss"])
    assert set(logs) == {"rec_loss"} and "discriminator" not in method.head
    other, _ = method.loss(inputs, (torch.where(mask, x, torch.rand_like(x)), mask))
    torch.testing.assert_close(other, loss, rtol=0, atol=0)
    inside, _ = method.loss(inputs, (torch.where(mask, torch.rand_like(x), x), mask))
    assert inside != loss


@pytest.mark.parametrize("size", [12, 16, 28])
def test_the_decoder_predicts_an_image_of_the_input_size(size):
    method = _method(channels=3, size=size)
    pred = method.head["decoder"](method.backbone(torch.rand(2, 3, size, size)), (size, size))
    assert pred.shape == (2, 3, size, size) and 0 <= pred.min() and pred.max() <= 1


def test_the_adversarial_loss_is_the_weighted_sum_and_d_has_its_own_term():
    method = _method(adversarial=True)
    inputs, (x, mask) = method.pseudolabels(torch.rand(4, 1, 16, 16))
    loss, logs = method.loss(inputs, (x, mask))
    assert set(logs) == {"rec_loss", "adv_gen", "adv_disc"}
    pred = method.head["decoder"](method.backbone(inputs), (16, 16))
    d = method.head["discriminator"]
    fake = torch.where(mask, pred, x)
    gen = F.binary_cross_entropy_with_logits(d(fake), torch.ones(4, 1))
    own = (F.binary_cross_entropy_with_logits(d(x), torch.ones(4, 1))
           + F.binary_cross_entropy_with_logits(d(fake), torch.zeros(4, 1)))
    torch.testing.assert_close(logs["adv_gen"], gen.detach())
    torch.testing.assert_close(logs["adv_disc"], own.detach())
    torch.testing.assert_close(loss, 0.999 * hole_mse(pred, x, mask) + 0.001 * gen + own)


def test_the_generator_term_never_trains_d_and_d_term_never_trains_the_generator():
    method = _method(adversarial=True)
    inputs, (x, mask) = method.pseudolabels(torch.rand(4, 1, 16, 16))
    d_params = list(method.head["discriminator"].parameters())
    g_params = list(method.backbone.parameters()) + list(method.head["decoder"].parameters())
    pred = method.head["decoder"](method.backbone(inputs), (16, 16))
    gen, own = adversarial_terms(method.head["discriminator"], x, torch.where(mask, pred, x))
    assert all(g is None for g in _grads(gen, d_params))                    # no gradient to help D fool itself
    assert any(g is not None and g.abs().sum() > 0 for g in _grads(gen, g_params))
    assert all(g is None for g in _grads(own, g_params))
    assert all(g is not None and g.abs().sum() > 0 for g in _grads(own, d_params))
    # so in the full loss, D's gradient is exactly that of its own term
    loss, _ = method.loss(inputs, (x, mask))
    for total, alone in zip(_grads(loss, d_params), _grads(own, d_params)):
        torch.testing.assert_close(total, alone)


@pytest.mark.parametrize("adversarial", [False, True])
@pytest.mark.parametrize("channels, backbone", [(1, "convnet-small"), (3, "resnet18")])
def test_gradients_reach_backbone_and_head(adversarial, channels, backbone):
    method = _method(channels=channels, backbone=backbone, adversarial=adversarial, mask="block")
    loss, _ = method.loss(*method.pseudolabels(torch.rand(4, channels, 16, 16)))
    loss.backward()
    for part in (method.backbone, method.head):
        for name, p in part.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert ("discriminator" in method.head) == adversarial


def test_an_unknown_mask_is_refused():
    with pytest.raises(SsrlError, match="unknown mask 'ring'.*central, block, region"):
        _method(mask="ring")


def test_reconstructions_paste_the_prediction_into_the_hole_and_leave_batch_norm_alone():
    method = _method(mask="central")
    before = {k: v.clone() for k, v in method.state_dict().items()}
    x = torch.rand(3, 1, 16, 16)
    rows = method.reconstruct(x, torch.Generator().manual_seed(0))
    assert list(rows) == ["masked input", "prediction", "truth"] and method.training
    mask = central_square_mask(3, 16, 16)
    assert torch.equal(rows["prediction"][~mask], x[~mask]) and torch.equal(rows["truth"], x)
    assert torch.equal(rows["masked input"], fill_holes(x, mask))
    assert all(torch.equal(v, before[k]) for k, v in method.state_dict().items())


def test_tiny_adversarial_run_through_the_engine_writes_reconstructions(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8))
    run = pretrain(str(data), "inpainting", out=tmp_path / "run", epochs=1, batch_size=8,
                   params={"adversarial": True, "decoder_width": 32}, progress=False, log_every_n_steps=1)
    assert (run / "backbone.safetensors").exists()
    assert "adv_disc" in (run / "metrics.csv").read_text()
    with Image.open(run / "reconstructions.png") as img:
        assert img.size == (8 * 30 - 2, 3 * 30 - 2)  # 8 images of 28 px, 3 rows, 2 px apart
