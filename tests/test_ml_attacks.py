"""Chapter 09's attacks, on fixed seeds: they must work where the chapter says they do, and fail where it says so."""
import pytest
import torch
from torch import nn

import course_lib as cl
from course_lib import attacks, federated as fl, privacy

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


def _one_image_updates(model, k):
    x, y = DATA.train_x[:k], DATA.train_y[:k]
    return x, {n + 1: attacks.flat_update(attacks.client_gradient(model, x[n:n + 1], y[n:n + 1])) for n in range(k)}


def test_the_mean_of_a_few_securely_aggregated_updates_inverted_as_a_batch_gives_images_back():
    """All secure aggregation shows the server is the mean; the mean of k one-image updates is the
    gradient of a batch of k, and inverted as that batch it gives clients' images back."""
    model = _smooth_mlp()
    for k in (2, 4):
        x, updates = _one_image_updates(model, k)
        mean = fl.SecureMean(clients=k, threshold=2 * k // 3 + 1, clip=4.0)(updates)   # the real protocol
        assert (mean - torch.stack(list(updates.values())).mean(0)).abs().max() < 1e-3
        starts = [attacks.best_match_psnr(attacks.invert_aggregate(model, mean, k, seed=s).images, x) for s in (0, 1)]
        assert max(max(run) for run in starts) > 40 and all(sum(p > 30 for p in run) >= 1 for run in starts)


def test_a_plain_sum_is_the_same_batch_once_divided_by_the_number_of_clients():
    model = _smooth_mlp()
    x, updates = _one_image_updates(model, 10)
    total = sum(updates.values())
    batch = attacks.flat_update(attacks.client_gradient(model, x, DATA.train_y[:10]))
    assert torch.allclose(total / 10, batch, atol=1e-6)               # the sum is 10 × the batch's gradient
    found = attacks.invert_aggregate(model, attacks.split_update(model, total), 10, summed=True, seed=0)
    assert max(attacks.best_match_psnr(found.images, x)) > 30
    wrong = attacks.invert_gradients(model, attacks.split_update(model, total), 1)   # the unfair attack
    assert max(attacks.best_match_psnr(wrong.images, x)) < 20                      # says nothing about safety


def test_leakage_falls_as_clients_and_local_steps_grow_but_does_not_vanish():
    model = _smooth_mlp()
    x, updates = _one_image_updates(model, 16)
    many = attacks.invert_aggregate(model, torch.stack(list(updates.values())).mean(0), 16, seed=0)
    assert sum(p > 30 for p in attacks.best_match_psnr(many.images, x)) < 8     # at this attack's budget
    best = {}
    for steps in (1, 5):
        update = fl.local_update(model, x[:1], DATA.train_y[:1], epochs=steps, lr=0.1, batch=1)
        found = attacks.invert_aggregate(model, -update / (steps * 0.1), 1)     # the update read as one gradient
        best[steps] = attacks.psnr(found.images[0], x[0])
    assert best[1] > 40 and 25 < best[5] < best[1] - 20                         # less, but still a digit


def test_flat_updates_split_back_and_bad_shapes_are_refused():
    model = _smooth_mlp()
    grads = attacks.client_gradient(model, DATA.train_x[:1], DATA.train_y[:1])
    assert all(torch.equal(a, b) for a, b in zip(attacks.split_update(model, attacks.flat_update(grads)), grads))
    with pytest.raises(ValueError, match="a vector of 2410 values; got a tensor of shape \\(2409,\\)"):
        attacks.split_update(model, torch.zeros(2409))
    with pytest.raises(ValueError, match="a positive int; got 0"):
        attacks.invert_aggregate(model, grads, 0)
    with pytest.raises(ValueError, match="a positive int; got 2.0"):
        attacks.invert_aggregate(model, grads, 2.0)
    with pytest.raises(ValueError, match="one tensor per parameter of the model"):
        attacks.invert_aggregate(model, grads[:2], 2)                  # an update of another model


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
    auc = attacks.roc_auc
    assert (auc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])), auc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])),
            auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])), auc(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 3.0])),
            auc(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 2.0]))) == (1.0, 0.0, 0.5, 0.5, 0.625)


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
    honest = _smooth_mlp()                                             # the same clients, an honest model:
    mean = [sum(p) / 8 for p in zip(*(attacks.client_gradient(honest, x, y) for x, y in clients))]
    found = attacks.invert_aggregate(honest, mean, 64)                 # the fair attack, a batch of 64
    assert sum(p > 60 for p in attacks.best_match_psnr(found.images, images)) < len(exact)


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


def test_membership_attacks_on_a_dp_trained_model_stay_under_the_bound():
    """The strongest attacker of section 3 against a DP-SGD target: shadow models trained with the
    target's own DP recipe, and the loss-threshold attack; each with its best threshold chosen on the
    very members and outsiders it is scored on. Neither may beat ``privacy.membership_bounds``."""
    from torch.utils.data import TensorDataset
    x, y = cl.digits.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    members, outsiders = (x[:150], y[:150]), (x[150:300], y[150:300])

    def train_with_dp(px, py, seed):
        model, spent, _ = privacy.train_private(TensorDataset(px, py), 1.0, sizes=(64, 256, 10), epochs=60, lr=0.5,
                                                batch=50, momentum=0.0, seed=seed)
        return model, spent

    target, spent = train_with_dp(*members, seed=0)
    bound = privacy.membership_bounds(spent, 1e-5)[1]
    assert spent <= 1.0 and 0.45 < bound < 0.47
    attack = attacks.train_shadow_attack(lambda px, py, seed: train_with_dp(px, py, seed)[0], x[300:], y[300:],
                                         shadows=2, size=150)
    shadow = attack.advantage(target, members, outsiders)
    with torch.no_grad():
        loss = {name: nn.functional.cross_entropy(target(px), py, reduction="none")
                for name, (px, py) in (("members", members), ("outsiders", outsiders))}
    threshold = attacks.attack_advantage(-loss["members"], -loss["outsiders"])        # low loss: "member"
    assert shadow <= bound and threshold <= bound
    undefended = attacks.train_wide_mlp(*members, seed=0)                             # the same attack works without DP
    assert attacks.train_shadow_attack(attacks.train_wide_mlp, x[300:], y[300:], shadows=2, size=150).advantage(
        undefended, members, outsiders) > max(shadow, threshold)
