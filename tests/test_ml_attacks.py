"""Chapter 09's attacks, on fixed seeds: they must work where the chapter says they do, and fail where it says so."""
import pytest
import torch
from torch import nn

import course_lib as cl
from course_lib import attacks

DATA = cl.digits.split(0)


def _smooth_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))


def test_gradient_matching_loss_is_zero_only_for_the_same_gradient():
    model = _smooth_mlp()
    a = attacks.client_gradient(model, DATA.train_x[:1], DATA.train_y[:1])
    b = attacks.client_gradient(model, DATA.train_x[1:2], DATA.train_y[1:2])
    assert attacks.gradient_matching_loss(a, a).item() == 0
    expected = sum(((x - y) ** 2).sum() for x, y in zip(a, b)).item()
    assert attacks.gradient_matching_loss(a, b).item() == pytest.approx(expected) and expected > 0


def test_one_clients_gradient_gives_its_image_and_label_back():
    model = _smooth_mlp()
    x, y = DATA.train_x[:1], DATA.train_y[:1]
    found = attacks.invert_gradients(model, attacks.client_gradient(model, x, y), 1, steps=200, seed=0)
    assert attacks.psnr(found.images[0], x[0]) > 40            # dB: visually identical
    assert found.labels.tolist() == y.tolist()
    assert len(found.history) > 2 and found.history[-1][2] < found.history[0][2]


def test_inversion_fails_on_the_sum_of_many_clients_updates():
    model = _smooth_mlp()
    x, y = DATA.train_x[:32], DATA.train_y[:32]
    aggregate = attacks.client_gradient(model, x, y)            # what secure aggregation reveals: one sum
    found = attacks.invert_gradients(model, aggregate, 1, steps=200, seed=0)
    assert max(attacks.best_match_psnr(found.images, x)) < 20


def test_psnr_known_values():
    a = torch.zeros(64)
    assert attacks.psnr(a, a) == float("inf")
    assert attacks.psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-4)     # MSE 0.01 → 20 dB


def test_advantage_and_roc_known_values():
    perfect = attacks.attack_advantage(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0]))
    inverted = attacks.attack_advantage(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
    tied = attacks.attack_advantage(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))
    half = attacks.attack_advantage(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 3.0]))
    assert (perfect, inverted, tied, half) == (1.0, 0.0, 0.0, 0.5)
    fpr, tpr = attacks.roc_curve(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0]))
    assert fpr.tolist() == [0, 0, 0, 0.5, 1] and tpr.tolist() == [0, 0.5, 1, 1, 1]


_train = attacks.train_wide_mlp


def test_membership_advantage_is_larger_on_an_overfitted_model_than_on_a_regularised_one():
    x, y = cl.digits.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    members, outsiders = (x[:150], y[:150]), (x[150:300], y[150:300])
    attack = attacks.train_shadow_attack(_train, x[300:], y[300:], shadows=4, size=150)
    overfitted = attack.advantage(_train(*members, seed=0), members, outsiders)
    regularised = attack.advantage(_train(*members, seed=0, weight_decay=5e-2, epochs=30), members, outsiders)
    assert overfitted > 0.2 and overfitted > regularised + 0.05
    with pytest.raises(ValueError, match="need 2400 samples"):
        attacks.train_shadow_attack(_train, x[:100], y[:100], shadows=4, size=300)


def test_extraction_agrees_more_with_more_queries_and_labels_only_still_works():
    target, *_ = cl.digits.task()
    pool, test_x = DATA.train_x, DATA.test_x
    logits = lambda q: target(q).detach()  # noqa: E731
    few = attacks.extract_model(logits, pool[:50], seed=1)
    many = attacks.extract_model(logits, pool[:1000], seed=1)
    labels = attacks.extract_model(lambda q: target(q).argmax(1), pool[:1000], seed=1)
    rounded = attacks.extract_model(lambda q: (target(q).softmax(1) * 10).round().detach() / 10, pool[:1000], seed=1)
    assert attacks.agreement(many, target, test_x) > attacks.agreement(few, target, test_x)
    assert attacks.agreement(many, target, test_x) > 0.9
    assert attacks.agreement(labels, target, test_x) > 0.85 and attacks.agreement(rounded, target, test_x) > 0.85


def test_a_malicious_server_recovers_exact_images_from_the_sum_of_eight_clients():
    model = attacks.imprint_model(128, DATA.test_x)                  # built from public data only
    clients = [(DATA.train_x[8 * k:8 * k + 8], DATA.train_y[8 * k:8 * k + 8]) for k in range(8)]
    updates = [attacks.client_gradient(model, x, y) for x, y in clients]
    aggregate = [sum(parts) for parts in zip(*updates)]               # all secure aggregation reveals
    images = torch.cat([x for x, _ in clients])
    exact = [p for p in attacks.best_match_psnr(attacks.recover_from_imprint(aggregate), images) if p > 60]
    assert len(exact) >= 20                                            # of 64 images, bit-for-bit or nearly
    honest = cl.digits.task(epochs=1)[0]                               # the same clients, an honest model
    found = attacks.invert_gradients(honest, [sum(p) for p in zip(*(attacks.client_gradient(honest, x, y)
                                                                      for x, y in clients))], 1, steps=100)
    assert max(attacks.best_match_psnr(found.images, images)) < 20


def test_mpc_hides_inputs_not_outputs_the_same_attacks_work_on_the_private_service():
    x, y = cl.digits.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    members, outsiders = (x[:150], y[:150]), (x[150:300], y[150:300])
    target = _train(*members, seed=0)
    attack = attacks.train_shadow_attack(_train, x[300:], y[300:], shadows=4, size=150)
    service = attacks.private_inference_service(target)
    plain = attack.advantage(target, members, outsiders)
    private = attacks.attack_advantage(attack.score(service, *members), attack.score(service, *outsiders))
    assert plain > 0.2 and abs(private - plain) <= 0.01
    copy = attacks.extract_model(service, x[300:800], seed=1)
    assert attacks.agreement(copy, target, x[1300:]) > 0.85
