import torch

from ssrl.evaluation import extract_features, linear_probe_top1


def _blobs(n_per_class, seed, spread):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    x = torch.cat([c + spread * torch.randn(n_per_class, 3, generator=g) for c in centres])
    return x, torch.arange(3).repeat_interleave(n_per_class)


def test_linear_probe_separates_separable_classes():
    (xtr, ytr), (xte, yte) = _blobs(30, 0, 0.3), _blobs(10, 1, 0.3)
    assert linear_probe_top1(xtr, ytr, xte, yte, epochs=50) == 1.0


def test_linear_probe_is_chance_on_noise_labels_and_deterministic():
    g = torch.Generator().manual_seed(0)
    xtr, xte = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g)
    ytr, yte = torch.randint(0, 2, (300,), generator=g), torch.randint(0, 2, (300,), generator=g)
    a = linear_probe_top1(xtr, ytr, xte, yte, epochs=20, seed=1)
    assert a == linear_probe_top1(xtr, ytr, xte, yte, epochs=20, seed=1)
    assert 0.35 < a < 0.65


def test_extract_features_uses_eval_mode_and_restores_training_mode():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2), torch.nn.BatchNorm1d(2))
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    net.train()
    f = extract_features(net, images, batch_size=2, device="cpu")
    assert net.training
    expected = net.eval()(images.float() / 255)
    torch.testing.assert_close(f, expected)


def test_text_features_are_batched_by_length_and_returned_in_the_data_order():
    from ssrl.backbones.text_transformer import TextTransformer
    from ssrl.evaluation.features import length_order

    torch.manual_seed(0)
    net = TextTransformer(50, 10, dim=16, depth=1, heads=2, causal=False)
    lengths = torch.tensor([9, 2, 6, 3, 10, 4, 2])
    ids = torch.randint(5, 50, (7, 10)) * (torch.arange(10) < lengths[:, None])  # 0 = padding at the end
    assert length_order(ids).tolist() == [1, 6, 3, 5, 2, 0, 4]
    with torch.no_grad():
        one_by_one = torch.cat([net.eval()(row[None]) for row in ids])
    torch.testing.assert_close(extract_features(net, ids, batch_size=3, device="cpu"), one_by_one)
    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    assert length_order(images).tolist() == [0, 1, 2, 3]
