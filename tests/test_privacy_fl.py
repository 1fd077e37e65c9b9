"""DP-SGD, accounting, distributed noise and FedAvg (chapter 10)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import course_lib as cl
from course_lib import federated as fl, privacy, secagg
from course_lib.training import mlp


def test_per_sample_gradients_are_each_samples_own_gradient():
    model = mlp((64, 32, 10), seed=3)
    x, y = torch.rand(5, 64), torch.tensor([0, 3, 9, 3, 1])
    batched = privacy.per_sample_gradients(model, x, y)
    for i in range(5):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for name, parameter in model.named_parameters():
            assert torch.allclose(batched[name][i], parameter.grad, atol=1e-6)


def test_clipping_bounds_every_samples_whole_gradient_and_keeps_small_ones():
    grads = {"w": torch.tensor([[3.0, 0.0], [0.1, 0.0]]), "b": torch.tensor([[4.0], [0.0]])}
    clipped = privacy.clip_per_sample(grads, 1.0)
    assert torch.allclose(clipped["w"][0], torch.tensor([0.6, 0.0])) and torch.allclose(clipped["b"][0], torch.tensor([0.8]))
    assert torch.equal(clipped["w"][1], grads["w"][1])          # norm 0.1 ≤ 1: unchanged


def test_dp_sgd_step_adds_noise_of_the_calibrated_variance():
    """The applied gradient minus the clipped mean has standard deviation σ·C / B (chi-square on 2410 values)."""
    model = mlp((64, 32, 10), seed=0)
    x, y = torch.rand(64, 64), torch.randint(0, 10, (64,))
    clipped = privacy.clip_per_sample(privacy.per_sample_gradients(model, x, y), 0.5)
    noisy = privacy.dp_sgd_step(model, x, y, clip=0.5, noise_multiplier=1.3, lr=0.0, expected_batch=64,
                                generator=torch.Generator().manual_seed(1))
    noise = torch.cat([(noisy[n] * 64 - clipped[n].sum(dim=0)).flatten() for n in noisy])
    expected = 1.3 * 0.5
    count = noise.numel()
    statistic = float((noise.double() ** 2).sum() / expected ** 2)       # χ² with `count` degrees of freedom
    assert abs(statistic - count) < 5 * math.sqrt(2 * count)
    assert abs(noise.mean().item()) < 5 * expected / math.sqrt(count)


def test_the_accountant_moves_the_right_way_and_inverts():
    base = privacy.epsilon(1.0, 0.1, 400, 1e-5)
    assert privacy.epsilon(2.0, 0.1, 400, 1e-5) < base < privacy.epsilon(1.0, 0.1, 1600, 1e-5)
    assert base < privacy.epsilon(1.0, 0.1, 400, 1e-5, "rdp") < privacy.epsilon(1.0, 0.1, 400, 1e-5, "basic")
    assert base < privacy.epsilon(1.0, 0.2, 400, 1e-5)
    sigma = privacy.noise_multiplier(3.0, 0.1, 400, 1e-5)
    assert 2.9 <= privacy.epsilon(sigma, 0.1, 400, 1e-5) <= 3.0
    assert abs(privacy.epsilon(sigma, 0.1, 400, 1e-5, accountant="rdp") - 3.0) < 0.6    # RDP is a bit looser


def test_membership_bounds():
    assert privacy.membership_bounds(0.0) == (0.5, 0.0)
    accuracy, advantage = privacy.membership_bounds(1.0)
    assert accuracy == pytest.approx(math.e / (1 + math.e)) and advantage == pytest.approx(2 * accuracy - 1)
    assert privacy.membership_bounds(50.0, 1e-5)[0] == 1.0


def test_skellam_noise_has_variance_two_mu():
    noise = privacy.skellam_noise(40.0, 200_000, np.random.default_rng(0))
    assert abs(noise.mean()) < 5 * math.sqrt(80 / 200_000)
    assert abs(noise.var() / 80 - 1) < 5 * math.sqrt(2 / 200_000) + 0.01


@pytest.mark.parametrize("colluders", [0, 2, 5])
def test_distributed_noise_of_the_honest_survivors_equals_the_central_mechanism(colluders):
    """The t − c honest survivors' Skellam shares, dequantised, have the variance (σ·C)² of central DP's Gaussian."""
    sigma, clip, bits, t = 0.8, 1.0, 12, 6
    mu = privacy.distributed_noise_mu(sigma, clip, bits, t, colluders=colluders)
    rng = np.random.default_rng(1)
    honest = sum(privacy.skellam_noise(mu, 100_000, rng) for _ in range(t - colluders))
    values = secagg.dequantize(honest, clip, bits)
    assert abs(values.var() / (sigma * clip) ** 2 - 1) < 0.03
    more = sum(privacy.skellam_noise(mu, 100_000, rng) for _ in range(t - colluders + 3))
    assert secagg.dequantize(more, clip, bits).var() > (sigma * clip) ** 2        # more honest survivors: more noise


def test_distributed_noise_refuses_a_collusion_the_threshold_cannot_cover():
    with pytest.raises(ValueError, match="colluders must be between 0 and min_clients − 1 = 5"):
        privacy.distributed_noise_mu(1.0, 1.0, 12, 6, colluders=6)
    with pytest.raises(ValueError, match="between 0 and threshold − 1 = 6"):
        fl.SecureMean(clients=10, threshold=7, noise_multiplier=1.0, colluders=7)
    with pytest.raises(ValueError, match="accountant is 'rdp', 'prv' or 'basic'"):
        privacy.epsilon(1.0, 0.1, 10, 1e-5, "moments")
    assert fl.SecureMean(clients=10, threshold=7).colluders == 6          # the worst case, unless told otherwise


def test_rounding_cannot_push_a_clipped_update_above_the_clip():
    """Rounding lengthens a vector of norm C by up to ½·√d steps: 100 equal values of norm 1 round
    to norm 130/127 at 8 bits. ``clip_and_quantize``, which ``SecureMean`` uses, leaves room for it:
    the sensitivity its DP accounting assumes is really C."""
    at_the_clip = np.full(100, 0.1)
    rounded = secagg.dequantize(secagg.quantize(secagg.clip_by_norm(at_the_clip, 1.0), 1.0, 8), 1.0, 8)
    assert np.linalg.norm(rounded) == pytest.approx(130 / 127)
    rng = np.random.default_rng(0)
    for vector in [at_the_clip, *(rng.normal(size=100) * scale for scale in (0.01, 1.0, 100.0))]:
        kept = secagg.dequantize(secagg.clip_and_quantize(vector, 1.0, 8), 1.0, 8)
        assert np.linalg.norm(kept) <= 1.0 + 1e-12
    with pytest.raises(ValueError, match="8 bits are too few for 70000 values"):
        secagg.clip_and_quantize(np.ones(70_000), 1.0, 8)


def test_non_iid_split_gives_every_sample_once_and_mostly_two_labels_each():
    data = cl.digits.split(0)
    parts = fl.non_iid_split(data.train_y, 10)
    assert sorted(torch.cat(parts).tolist()) == list(range(len(data.train_y)))
    counts = fl.label_counts(data.train_y, parts)
    top_two = np.sort(counts, axis=1)[:, -2:].sum(axis=1) / counts.sum(axis=1)
    assert top_two.min() > 0.8


def test_secure_mean_is_the_mean_of_clipped_updates_within_quantisation():
    generator = torch.Generator().manual_seed(0)
    updates = {n: torch.randn(300, generator=generator) * 0.05 for n in range(1, 11)}
    updates[3] = updates[3] * 100                                      # a large update is clipped to norm 1
    secure = fl.SecureMean(clients=10, threshold=6, clip=1.0, bits=16)
    got = secure(updates)
    slack = 0.5 * math.sqrt(300) / (2 ** 15 - 1)                       # room left for rounding
    clipped = torch.stack([torch.tensor(secagg.clip_by_norm(u.double().numpy(), 1.0 - slack))
                           for u in updates.values()])
    step = 1.0 / (2 ** 15 - 1)
    assert torch.allclose(got.double(), clipped.mean(dim=0), atol=step / 2 + 1e-7)
    assert secure.last.survivors == list(range(1, 11))


def test_secure_fedavg_with_dropouts_tracks_plain_fedavg_and_too_many_dropouts_stop_the_round():
    data = cl.digits.split(0)
    parts = fl.non_iid_split(data.train_y, 10)
    args = (data.train_x, data.train_y, parts, data.test_x, data.test_y)
    plain = fl.fedavg(*args, rounds=6, lr=0.3)
    secure = fl.fedavg(*args, rounds=6, lr=0.3, aggregate=fl.SecureMean(10, 6, clip=5.0, dropouts={2: {4, 9}}))
    assert abs(plain.accuracy[-1] - secure.accuracy[-1]) < 0.05
    failing = fl.SecureMean(10, 6, clip=5.0, dropouts={1: {1, 2, 3, 4, 5}})
    with pytest.raises(cl.errors.TooManyDropoutsError, match="only 5 clients sent masked inputs"):
        fl.fedavg(*args, rounds=3, lr=0.3, aggregate=failing)
    assert failing.rounds == 1                                          # no update from the failed round


def test_train_private_spends_the_epsilon_it_was_given():
    data = cl.digits.split(0)
    model, spent, sigma = privacy.train_private(data.train_set(), 3.0, epochs=2)
    assert 2.9 <= spent <= 3.0 and sigma > 1
    assert isinstance(model, nn.Sequential)
