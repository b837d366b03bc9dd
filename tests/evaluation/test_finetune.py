import pytest
import torch

from ssrl.evaluation.features import as_input, extract_features
from ssrl.evaluation.finetune import (classifier_top1, finetune_optimizer, finetune_top1, supervised_views,
                                      train_classifier)
from tests.evaluation.tiny import TinyConvNet, TinyTokenNet, quadrant_images

SETTINGS = dict(epochs=15, lr_backbone=1e-2, lr_head=1e-2, batch_size=16, device="cpu")


def test_as_input_scales_images_and_passes_token_ids_through():
    images = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    torch.testing.assert_close(as_input(images), torch.tensor([[[[0.0, 1.0]]]]))
    ids = torch.tensor([[3, 1, 4]])
    assert as_input(ids).dtype == torch.int64 and torch.equal(as_input(ids), ids)


def test_finetune_beats_chance_on_a_separable_set_and_is_deterministic():
    (xtr, ytr), (xte, yte) = quadrant_images(16, 0), quadrant_images(8, 1)
    torch.manual_seed(0)
    backbone = TinyConvNet()
    a = finetune_top1(backbone, xtr, ytr, xte, yte, seed=3, **SETTINGS)
    assert a >= 0.9  # chance: 0.25
    assert a == finetune_top1(backbone, xtr, ytr, xte, yte, seed=3, **SETTINGS)


def test_finetune_with_augmentation_still_learns():
    """Top half vs bottom half bright: labels that survive crops of 50-100% and left-right flips."""
    (xtr, ytr), (xte, yte) = quadrant_images(16, 0), quadrant_images(8, 1)
    torch.manual_seed(0)
    a = finetune_top1(TinyConvNet(), xtr, ytr // 2, xte, yte // 2, augment=supervised_views(), **SETTINGS)
    assert a >= 0.9


def test_callers_backbone_is_unchanged():
    (xtr, ytr), (xte, yte) = quadrant_images(4, 0), quadrant_images(2, 1)
    torch.manual_seed(0)
    backbone = TinyConvNet().eval()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    finetune_top1(backbone, xtr, ytr, xte, yte, **{**SETTINGS, "epochs": 2})
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included
    assert not backbone.training


def test_learning_rates_go_to_their_parameter_groups():
    backbone, head = TinyConvNet(), torch.nn.Linear(8, 4)
    opt = finetune_optimizer(backbone, head, lr_backbone=1e-4, lr_head=1e-2)
    groups = [(g["lr"], {id(p) for p in g["params"]}) for g in opt.param_groups]
    assert groups == [(1e-4, {id(p) for p in backbone.parameters()}), (1e-2, {id(p) for p in head.parameters()})]


def test_zero_backbone_learning_rate_trains_only_the_head():
    x, y = quadrant_images(4, 0)
    torch.manual_seed(0)
    backbone = TinyConvNet()
    model = train_classifier(backbone, x, y, 4, **{**SETTINGS, "epochs": 50, "lr_backbone": 0.0})
    trained, start = dict(model[0].named_parameters()), dict(backbone.named_parameters())
    assert all(torch.equal(trained[k], start[k]) for k in start)
    assert classifier_top1(model, x, y) >= 0.75  # the head learned (chance: 0.25)


def test_head_alone_matches_a_probe_on_frozen_features():
    """With lr_backbone = 0 and a backbone without batch norm, fine-tuning is a linear classifier
    on fixed features: the model's logits are exactly head(h(x))."""
    x, y = quadrant_images(4, 0)
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8))
    backbone.dim = 8
    model = train_classifier(backbone, x, y, 4, **{**SETTINGS, "epochs": 3, "lr_backbone": 0.0})
    features = extract_features(backbone, x, device="cpu")
    torch.testing.assert_close(model(as_input(x)), model[1](features))


def test_token_ids_pass_through_to_a_text_backbone():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 10, (80, 6), generator=g)
    y = torch.arange(80) % 2
    ids[:, 0] = y  # token 0 or 1 names the class
    torch.manual_seed(0)
    a = finetune_top1(TinyTokenNet(), ids[:60], y[:60], ids[60:], y[60:], **{**SETTINGS, "epochs": 30, "lr_head": 0.05, "lr_backbone": 0.05})
    assert a >= 0.9


def test_classifier_top1_counts_correct_predictions():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    model.append(torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[2].weight.copy_(torch.eye(2))
        model[2].bias.zero_()
    x = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]], [[[1.0, 0.0]]]])
    assert classifier_top1(model, x, torch.tensor([0, 1, 1]), batch_size=2) == pytest.approx(2 / 3)
