import math

import pytest
import torch
import torch.nn.functional as F

from ssrl.losses import nce, sample_noise
from tests.losses.compare import assert_matches_reference, randn
from tests.losses.reference import nce_reference


@pytest.mark.parametrize("b,k", [(1, 1), (3, 4), (6, 10)])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_nce_matches_reference(b, k, scale):
    s_data, s_noise = scale * randn(b, seed=b), scale * randn(b, k, seed=k)
    log_q_data = randn(b, seed=7).log_softmax(0)
    log_q_noise = randn(b, k, seed=8).log_softmax(1)
    assert_matches_reference(nce, nce_reference, [s_data, s_noise, log_q_data, log_q_noise])


@pytest.mark.parametrize("k", [1, 5])
def test_nce_at_even_odds_is_k_plus_1_log_2(k):
    # s = log(k q) makes every G = 0 and σ(G) = 1/2: each of the 1 + k terms costs log 2.
    log_q_data, log_q_noise = torch.randn(3), torch.randn(3, k)
    loss = nce(log_q_data + math.log(k), log_q_noise + math.log(k), log_q_data, log_q_noise)
    assert loss.item() == pytest.approx((1 + k) * math.log(2), rel=1e-6)


def test_nce_with_log_q_minus_log_k_is_negative_sampling():
    # word2vec: -log σ(s_data) - Σ log σ(-s_noise).
    b, k = 4, 3
    s_data, s_noise = torch.randn(b), torch.randn(b, k)
    log_q = torch.full((b, k), -math.log(k))
    loss = nce(s_data, s_noise, log_q[:, 0], log_q)
    expected = -(F.logsigmoid(s_data) + F.logsigmoid(-s_noise).sum(1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_nce_is_stable_for_extreme_scores():
    s_data = torch.tensor([-1000.0, 1000.0], requires_grad=True)
    s_noise = torch.tensor([[1000.0], [-1000.0]], requires_grad=True)
    loss = nce(s_data, s_noise, torch.zeros(2), torch.zeros(2, 1))
    # Sample 0 is wrong both ways by 1000 (≈ 2000 total), sample 1 right both ways (≈ 0).
    assert loss.item() == pytest.approx(1000.0, rel=1e-6)
    assert all(torch.isfinite(g).all() for g in torch.autograd.grad(loss, (s_data, s_noise)))


def test_sample_noise_draws_from_the_normalized_weights():
    counts = torch.tensor([10, 0, 30, 60])
    g = torch.Generator().manual_seed(0)
    idx, log_q = sample_noise(counts, (400, 50), generator=g)
    assert idx.shape == log_q.shape == (400, 50) and idx.dtype == torch.long
    assert not (idx == 1).any()  # zero weight is never drawn
    q = counts / counts.sum()
    torch.testing.assert_close(log_q, q.log()[idx])
    freq = torch.bincount(idx.flatten(), minlength=4) / idx.numel()
    torch.testing.assert_close(freq, q.float(), atol=0.01, rtol=0)
    again, _ = sample_noise(counts, (400, 50), generator=torch.Generator().manual_seed(0))
    assert torch.equal(idx, again)


def test_nce_end_to_end_recovers_the_data_distribution():
    # Gutmann & Hyvärinen's consistency: with one free log-density θ_u per outcome, NCE's
    # optimum is θ = log p_data, normalizer included, whatever the (full-support) noise.
    p_data = torch.tensor([0.1, 0.2, 0.3, 0.4])
    g = torch.Generator().manual_seed(1)
    data, _ = sample_noise(p_data, (4000,), generator=g)
    noise, log_q_noise = sample_noise(torch.ones(4), (4000, 5), generator=g)  # uniform q
    log_q_data = torch.full((4000,), math.log(0.25))
    theta = torch.zeros(4, requires_grad=True)
    opt = torch.optim.LBFGS([theta], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nce(theta[data], theta[noise], log_q_data, log_q_noise)
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(theta.detach(), p_data.log(), atol=0.1, rtol=0)


def test_nce_and_sampler_reject_bad_inputs():
    with pytest.raises(ValueError, match="nce: s_data"):
        nce(torch.zeros(3), torch.zeros(2, 4), torch.zeros(3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="log_q_noise"):
        nce(torch.zeros(3), torch.zeros(3, 4), torch.zeros(3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="k=0"):
        nce(torch.zeros(3), torch.zeros(3, 0), torch.zeros(3), torch.zeros(3, 0))
    with pytest.raises(ValueError, match="sample_noise: probs"):
        sample_noise(torch.ones(2, 2), (3,))
    with pytest.raises(ValueError, match="non-negative"):
        sample_noise(torch.tensor([0.5, -0.1]), (3,))
    with pytest.raises(ValueError, match="sum to 0"):
        sample_noise(torch.zeros(3), (3,))
    with pytest.raises(ValueError, match="negative size"):
        sample_noise(torch.ones(3), (2, -1))
