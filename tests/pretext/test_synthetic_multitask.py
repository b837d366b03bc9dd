"""synthetic_multitask: P pairs the real batch with as many synthetic images (grey for grey data)
and their exact truths, the loss is the weighted sum of the three task losses and the
adversarial terms with each term's gradient on its own side, the ablation drops D, a render
folder replaces the renderer, and a tiny run through the engine writes predictions.png."""

import numpy as np
import pytest
import torch
from PIL import Image

from ssrl.api import pretrain
from ssrl.backbones import build_backbone
from ssrl.components.adversarial import adversarial_terms
from ssrl.data.synthetic_scenes import ProceduralScenes
from ssrl.errors import DataError, SsrlError
from ssrl.pretext import method_config
from ssrl.losses.dense import balanced_contour_loss, cosine_normal_loss, scale_invariant_log_loss
from ssrl.pretext.synthetic_multitask import SyntheticMultitask
from ssrl.views import ViewConfig, Views
from tests.data.test_render_folder import _scene


def _method(channels=1, size=16, backbone="convnet-small", **params):
    torch.manual_seed(0)
    return SyntheticMultitask(build_backbone(backbone, channels, size, seed=0),
                              method_config("synthetic_multitask", params), Views(ViewConfig.none()))


def _grads(loss, params):
    return torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)


@pytest.mark.parametrize("channels", [1, 3])
def test_p_pairs_the_real_batch_with_rendered_scenes_of_its_shape(channels):
    method = _method(channels)
    x = torch.rand(5, channels, 12, 12)
    torch.manual_seed(3)
    (syn, real), z = method.pseudolabels(x)
    assert torch.equal(real, x) and syn.shape == x.shape and syn is z.image
    torch.manual_seed(3)
    again = ProceduralScenes().sample(5, (12, 12), channels)
    assert torch.equal(again.image, syn) and torch.equal(again.depth, z.depth)  # the renderer's scenes, from the global RNG


def test_the_loss_is_the_weighted_sum_of_the_tasks_and_the_adversarial_terms():
    method = _method(adv_weight=0.3, depth_weight=2.0, normal_weight=0.5, contour_weight=1.5)
    inputs, z = method.pseudolabels(torch.rand(4, 1, 16, 16))
    loss, logs = method.loss(inputs, z)
    assert set(logs) == {"depth_loss", "normal_loss", "contour_loss", "adv_gen", "adv_disc"}
    maps, last = method.predict(torch.cat(inputs), heads=4)
    depth = scale_invariant_log_loss(maps["depth"], z.depth, z.valid)
    normals = cosine_normal_loss(maps["normals"], z.normals, z.valid)
    contours = balanced_contour_loss(maps["contours"], z.contours)
    fool, disc = adversarial_terms(method.head["discriminator"], last[4:], last[:4])
    for name, value in (("depth_loss", depth), ("normal_loss", normals), ("contour_loss", contours),
                        ("adv_gen", fool), ("adv_disc", disc)):
        torch.testing.assert_close(logs[name], value.detach())
    torch.testing.assert_close(loss, 2.0 * depth + 0.5 * normals + 1.5 * contours + 0.3 * fool + disc)


def test_the_fooling_term_trains_the_backbone_not_d_and_ds_term_trains_d_only():
    method = _method()
    inputs, z = method.pseudolabels(torch.rand(4, 1, 16, 16))
    d_params = list(method.head["discriminator"].parameters())
    base = list(method.backbone.parameters())
    _, last = method.predict(torch.cat(inputs), heads=4)
    fool, disc = adversarial_terms(method.head["discriminator"], last[4:].detach(), last[:4])
    assert all(g is None for g in _grads(fool, d_params))
    assert any(g is not None and g.abs().sum() > 0 for g in _grads(fool, base))
    assert all(g is None for g in _grads(disc, base))
    assert all(g is not None and g.abs().sum() > 0 for g in _grads(disc, d_params))
    loss, logs = method.loss(inputs, z)  # in the whole loss, D's gradient is its own term's
    _, last = method.predict(torch.cat(inputs), heads=4)
    alone = adversarial_terms(method.head["discriminator"], last[4:].detach(), last[:4])[1]
    for total, own in zip(_grads(loss, d_params), _grads(alone, d_params)):
        torch.testing.assert_close(total, own)


def test_the_ablation_has_no_discriminator_and_only_the_task_losses():
    method = _method(adversarial=False)
    assert "discriminator" not in method.head
    inputs, z = method.pseudolabels(torch.rand(4, 1, 16, 16))
    loss, logs = method.loss(inputs, z)
    assert set(logs) == {"depth_loss", "normal_loss", "contour_loss"}
    torch.testing.assert_close(loss, logs["depth_loss"] + logs["normal_loss"] + logs["contour_loss"])


@pytest.mark.parametrize("backbone, channels", [("resnet18", 3), ("vit-tiny", 3)])
def test_other_backbones_train(backbone, channels):
    method = _method(channels, size=16, backbone=backbone)
    loss, _ = method.loss(*method.pseudolabels(torch.rand(2, channels, 16, 16)))
    loss.backward()
    assert all(p.grad is not None for p in method.head.parameters())
    assert any(p.grad.abs().sum() > 0 for p in method.backbone.parameters() if p.grad is not None)


def test_a_render_folder_replaces_the_renderer_and_a_bad_one_is_named(tmp_path):
    for i in range(3):
        _scene(tmp_path / "renders" / f"s{i}", i)
    method = _method(synthetic=str(tmp_path / "renders"))
    (syn, _), z = method.pseudolabels(torch.rand(4, 1, 16, 16))
    assert syn.shape == (4, 1, 16, 16) and not z.valid.all()  # the folder's pixels without depth
    loss, _ = method.loss((syn, _), z)
    assert torch.isfinite(loss)
    (tmp_path / "renders" / "s1" / "ids.png").unlink()
    with pytest.raises(DataError, match="s1: no instance id map"):
        _method(synthetic=str(tmp_path / "renders"))


def test_textures_real_paints_the_same_scenes_with_the_real_batch():
    method = _method(textures="real")
    for fill in (0.0, 1.0):
        torch.manual_seed(3)
        (syn, _), z = method.pseudolabels(torch.full((4, 1, 16, 16), fill))
        assert (syn == 0).all() if fill == 0 else (syn > 0).all()  # black pictures paint black scenes
    torch.manual_seed(3)
    photos = ProceduralScenes().sample(4, (16, 16), 1)
    assert torch.equal(z.depth, photos.depth) and torch.equal(z.ids, photos.ids)  # the geometry is the renderer's
    with pytest.raises(SsrlError, match="unknown textures 'mine'; choose one of: photos, real"):
        _method(textures="mine")
    with pytest.raises(SsrlError, match="unknown scene 'street'; choose one of: room, objects"):
        _method(scene="street")
    assert not _method(scene="objects").pseudolabels(torch.rand(4, 1, 16, 16))[1].valid.all()  # black around the objects


def test_an_unknown_depth_loss_is_refused():
    with pytest.raises(SsrlError, match="unknown depth_loss 'l2'; choose one of: scale_invariant, l1"):
        _method(depth_loss="l2")
    assert torch.isfinite(_method(depth_loss="l1").loss(*_method().pseudolabels(torch.rand(2, 1, 16, 16)))[0])


def test_the_picture_rows_leave_batch_norm_alone():
    method = _method(3)
    before = {k: v.clone() for k, v in method.state_dict().items()}
    rows = method.picture_rows(torch.rand(3, 3, 16, 16), torch.Generator().manual_seed(0))
    assert list(rows) == ["synthetic input", "true depth", "predicted depth", "true normals", "predicted normals",
                          "true contours", "predicted contours", "real input", "depth on real", "normals on real",
                          "contours on real"]
    assert all(r.shape[0] == 3 and r.shape[-2:] == (16, 16) and 0 <= r.min() and r.max() <= 1 for r in rows.values())
    assert all(torch.equal(v, before[k]) for k, v in method.state_dict().items()) and method.training


def test_tiny_run_through_the_engine_writes_the_prediction_grid(tmp_path):
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (16, 20, 20), dtype=np.uint8))
    run = pretrain(str(data), "synthetic_multitask", out=tmp_path / "run", epochs=1, batch_size=8,
                   progress=False, log_every_n_steps=1)
    assert (run / "backbone.safetensors").exists()
    assert "adv_disc" in (run / "metrics.csv").read_text()
    with Image.open(run / "predictions.png") as img:
        assert img.size == (8 * 22 - 2, 11 * 22 - 2)  # 8 images of 20 px, 11 rows, 2 px apart
