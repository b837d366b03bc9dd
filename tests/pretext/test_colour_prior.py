"""The colour prior: ab bins and quantization, smoothing, rebalancing weights and the losses
against hand computations (moved from test_colorization), and the ``ColourPrior`` component:
p counted over D_s as P makes its targets, once; w by eq. 4 and normalised so Σ p̃ w = 1."""

import math

import pytest
import torch

from ssrl.data.source import to_unit
from ssrl.errors import SsrlError
from ssrl.pretext.colour_prior import (ColourPrior, ab_bins, ab_histogram, annealed_mean, quantize_ab,
                                       rebalancing_weights, require_loss, smooth_distribution, weighted_cross_entropy)
from ssrl.pretext.lab import rgb_to_lab, split_lab


def _solid(colours, size=8) -> torch.Tensor:
    """uint8 images (N, 3, size, size), each one solid colour (RGB in 0..255)."""
    return torch.tensor(colours, dtype=torch.uint8)[:, :, None, None].expand(-1, -1, size, size).contiguous()


def _bin_of(rgb) -> int:
    """The ab bin of one RGB colour (0..255), through the Lab conversion and the grid by hand."""
    ab = split_lab(to_unit(torch.tensor(rgb, dtype=torch.uint8).view(1, 3, 1, 1)))[1].flatten()
    cell = torch.round(ab / 10) * 10
    return int((ab_bins(10.0) == cell).all(1).nonzero().item())


def test_ab_bins_are_the_gamut_cells_of_side_10():
    bins = ab_bins(10.0)
    assert bins.shape == (262, 2)
    assert torch.equal(bins, torch.round(bins / 10) * 10)      # centres on the grid
    assert len(torch.unique(bins, dim=0)) == len(bins)
    primaries = rgb_to_lab(torch.eye(3).T.reshape(1, 3, 3, 1))[0, 1:, :, 0].T  # ab of red, green, blue
    for ab in [*primaries, torch.zeros(2)]:                      # their cells and grey's are bins
        assert (bins == torch.round(ab / 10) * 10).all(1).any()
    assert not (bins == torch.tensor([-100.0, -100.0])).all(1).any()  # no sRGB colour is there


def test_quantize_ab_by_hand():
    bins = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    ab = torch.tensor([[4.0, 3.0], [12.0, 1.0], [-3.0, 8.0], [30.0, 20.0]]).T.reshape(1, 2, 2, 2)
    # cells (0, 0), (1, 0), (0, 1) are bins 0, 1, 2; cell (3, 2) is no bin: nearest centre (10, 0)
    assert quantize_ab(ab, bins, 10.0).tolist() == [[[0, 1], [2, 1]]]
    real = ab_bins(10.0)
    z = quantize_ab(torch.tensor([14.0, -6.0]).view(1, 2, 1, 1), real, 10.0)
    assert real[z.item()].tolist() == [10.0, -10.0]


def test_smoothing_and_rebalancing_weights_by_hand():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    # no smoothing: w ∝ 1 / (0.5 p + 0.5 / 2) = (1.6, 2.666…); Σ p w = 1.8666… → (6/7, 10/7)
    w = rebalancing_weights(p, centres, lam=0.5, sigma=0.0)
    torch.testing.assert_close(w, torch.tensor([6 / 7, 10 / 7], dtype=torch.float64))
    assert math.isclose(float((p * w).sum()), 1.0)
    # σ = 5 between centres 10 apart: kernel e^-2 off the diagonal
    k = math.exp(-2)
    smoothed = smooth_distribution(torch.tensor([1.0, 0.0]), centres, 5.0)
    torch.testing.assert_close(smoothed, torch.tensor([1 / (1 + k), k / (1 + k)]))
    pt = torch.tensor([0.75 + 0.25 * k, 0.25 + 0.75 * k], dtype=torch.float64) / (1 + k)
    raw = 1 / (0.5 * pt + 0.25)
    torch.testing.assert_close(rebalancing_weights(p, centres, 0.5, 5.0), raw / (pt * raw).sum())
    # λ = 1: the uniform distribution alone, every weight 1
    torch.testing.assert_close(rebalancing_weights(p, centres, 1.0, 5.0), torch.ones(2, dtype=torch.float64))


def test_weighted_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(3)], [0.0, 0.0]]).T.reshape(1, 2, 1, 2)  # pixel 0: p = (¼, ¾)
    z = torch.tensor([[[1, 0]]])
    weights = torch.tensor([2.0, 0.5])
    expected = (0.5 * -math.log(0.75) + 2.0 * math.log(2)) / 2
    assert math.isclose(weighted_cross_entropy(logits, z, weights).item(), expected, rel_tol=1e-6)
    assert math.isclose(weighted_cross_entropy(logits, z).item(), (-math.log(0.75) + math.log(2)) / 2, rel_tol=1e-6)


def test_annealed_mean_by_hand():
    centres = torch.tensor([[0.0, 0.0], [10.0, 20.0]])
    logits = torch.tensor([0.0, math.log(3)]).view(1, 2, 1, 1)
    torch.testing.assert_close(annealed_mean(logits, centres, 1.0).flatten(), torch.tensor([7.5, 15.0]))
    torch.testing.assert_close(annealed_mean(logits, centres, 0.5).flatten(), torch.tensor([9.0, 18.0]))  # p ∝ (1, 9)


def test_prior_counts_d_s_once_and_weights_follow_eq_4():
    prior = ColourPrior(grid=10.0, stride=1, lam=0.5, sigma=5.0)
    q = len(prior.bins)
    assert torch.equal(prior.p, torch.zeros(q)) and torch.equal(prior.w, torch.ones(q))  # not counted yet
    images = _solid([[255, 0, 0], [255, 0, 0], [255, 0, 0], [0, 0, 255]])
    assert prior.count(images) == {"colour_bins_used": 2.0}
    red, blue = _bin_of([255, 0, 0]), _bin_of([0, 0, 255])
    expected_p = torch.zeros(q)
    expected_p[red], expected_p[blue] = 0.75, 0.25
    torch.testing.assert_close(prior.p, expected_p)
    # w from the formula, written out bin by bin: p̃_q ∝ Σ_r exp(−|c_q − c_r|² / 2σ²) p_r
    c, p = prior.bins.double(), expected_p.double()
    p_tilde = torch.stack([(torch.exp(-((c[i] - c) ** 2).sum(1) / 50) * p).sum() for i in range(q)])
    p_tilde = p_tilde / p_tilde.sum()
    w = 1 / (0.5 * p_tilde + 0.5 / q)
    w = w / (p_tilde * w).sum()
    torch.testing.assert_close(prior.w.double(), w, rtol=1e-5, atol=1e-6)
    assert math.isclose(float((p_tilde * prior.w.double()).sum()), 1.0, rel_tol=1e-5)  # E_p̃[w] = 1
    assert prior.w[blue] > prior.w[red]  # the rarer colour weighs more
    # counted once: a later epoch keeps it, and so does a prior restored from a checkpoint
    assert prior.count(_solid([[0, 255, 0]] * 2)) is None and prior.p[red] == 0.75
    restored = ColourPrior(grid=10.0)
    restored.load_state_dict(prior.state_dict())
    assert set(prior.state_dict()) == {"bins", "p", "w"}
    assert restored.count(_solid([[0, 255, 0]] * 2)) is None and torch.equal(restored.w, prior.w)


def test_prior_without_rebalancing_counts_p_and_keeps_w_at_one():
    prior = ColourPrior()
    prior.count(_solid([[255, 0, 0], [0, 0, 255]]), rebalance=False)
    assert prior.p.sum() == 1 and torch.equal(prior.w, torch.ones(len(prior.bins)))


def test_prior_counts_the_targets_as_p_makes_them_block_means_of_ab():
    # left half red, right half blue: at stride 2 every 2 × 2 block is one colour; at stride 4
    # the one block is their mean ab, another bin
    image = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    image[:, 0, :, :2] = 255
    image[:, 2, :, 2:] = 255
    two, four = ColourPrior(stride=2), ColourPrior(stride=4)
    two.count(image), four.count(image)
    assert two.p[_bin_of([255, 0, 0])] == two.p[_bin_of([0, 0, 255])] == 0.5
    mean_ab = split_lab(to_unit(image))[1].mean(dim=(2, 3), keepdim=True)
    assert four.p[four.quantize(mean_ab).item()] == 1.0


def test_histogram_spreads_its_images_evenly_over_the_set():
    images = _solid([[255, 0, 0], [0, 0, 255], [255, 0, 0], [0, 0, 255]], size=2)
    counts = ab_histogram(images, ab_bins(10.0), 10.0, 1, max_images=2)  # images 0 and 2
    assert counts.sum() == 8 and counts[_bin_of([255, 0, 0])] == 8


def test_prior_quantize_and_decode_are_the_functions_on_its_bins():
    prior = ColourPrior()
    ab = torch.randn(2, 2, 3, 3) * 40
    assert torch.equal(prior.quantize(ab), quantize_ab(ab, prior.bins, 10.0))
    logits = torch.randn(2, len(prior.bins), 3, 3)
    torch.testing.assert_close(prior.decode(logits, 0.38), annealed_mean(logits, prior.bins, 0.38))


def test_unknown_loss_is_refused():
    require_loss("regression", "colorization")
    with pytest.raises(SsrlError, match="colorization loss must be one of classification, regression, got 'l1'"):
        require_loss("l1", "colorization")
