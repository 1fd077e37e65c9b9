"""Chapter 10's attacks within its own threat model: an honest-but-curious server that may reuse its
round ids and collude with up to t − 1 clients, and that inverts whatever sum it is given."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import course_lib as cl
from course_lib import attacks, federated as fl, privacy, secagg, shamir
from course_lib.errors import ProtocolViolationError


# ------------------------------------------------------------------ a sum of k is a batch of k
@pytest.fixture(scope="module")
def one_image_gradients():
    """The chapter's smooth model and ten clients' one-image gradients (the first image of each client)."""
    data = cl.digits.split(0)
    parts = fl.non_iid_split(data.train_y, clients=10)
    torch.manual_seed(0)
    smooth = nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))
    images = torch.cat([data.train_x[part[:1]] for part in parts])
    labels = torch.cat([data.train_y[part[:1]] for part in parts])
    gradients = [attacks.client_gradient(smooth, images[i:i + 1], labels[i:i + 1]) for i in range(10)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                    # small tensors: threads only add overhead, as in the notebook
    yield smooth, images, gradients
    torch.set_num_threads(threads)


@pytest.mark.parametrize("k", [2, 4])
def test_a_sum_of_k_one_image_gradients_inverted_as_a_batch_of_k_gives_images_back(one_image_gradients, k):
    """What secure aggregation hands the server is the gradient of a batch of k: inverted as one,
    images come back; inverted as a batch of one (the unfair attack) they do not."""
    smooth, images, gradients = one_image_gradients
    summed = [sum(layer) for layer in zip(*gradients[:k])]
    fair = fl.invert_sum(smooth, summed, k, restarts=2)
    recovered = attacks.best_match_psnr(fair.images, images[:k])
    assert sum(p > 30 for p in recovered) >= 1, recovered
    unfair = attacks.invert_gradients(smooth, summed, 1)
    assert max(attacks.best_match_psnr(unfair.images, images[:k])) < 20


def test_update_as_gradient_is_exact_for_one_local_step(one_image_gradients):
    smooth, images, gradients = one_image_gradients
    data = cl.digits.split(0)
    update = fl.local_update(smooth, images[:1], data.train_y[fl.non_iid_split(data.train_y, 10)[0][:1]], lr=0.3)
    for got, want in zip(fl.update_as_gradient(smooth, update, 0.3, 1), gradients[0]):
        assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="at least one local step"):
        fl.update_as_gradient(smooth, update, 0.3, 0)
    with pytest.raises(ValueError, match="restarts is the number of random starts"):
        fl.invert_sum(smooth, gradients[0], 1, restarts=0)


# ------------------------------------------------------------------ fresh rounds: replays refused
def _config(round_id=b"round label 0001"):
    return secagg.Config(clients=5, threshold=3, length=64, bits=8, round_id=round_id)


def _start(config, identities, roster, numbers=range(1, 6)):
    clients = {n: secagg.Client(n, identities[n], roster, config) for n in numbers}
    server = secagg.Server(config)
    joins = server.relay_joins({n: c.join() for n, c in clients.items()})
    return clients, server, joins


def test_an_advertisement_replayed_under_the_same_round_id_is_refused():
    """Round 1: client 5 drops, and the server legitimately rebuilds its mask key. Round 2, same
    round id: the server replays client 5's round-1 nonce and keys, whose private mask key it now
    holds — had they been accepted, it could strip every mask honest clients share with client 5."""
    config = _config()
    identities, roster = secagg.new_identities(5)
    clients, server, joins = _start(config, identities, roster)
    adverts = {n: c.advertise(joins) for n, c in clients.items()}
    inboxes = server.route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    updates = {n: np.full(64, n, dtype=np.uint64) for n in range(1, 5)}
    masked = {n: clients[n].masked_input(updates[n], inboxes[n]) for n in range(1, 5)}     # client 5 dropped
    answers = {n: clients[n].unmask(sorted(masked)) for n in range(1, 5)}
    total, dropped = server.unmask(masked, answers, set(adverts), {n: a[34:66] for n, a in adverts.items()})
    assert dropped == [5] and np.array_equal(total, sum(updates.values()))
    key_shares = [shamir.Share(n, int.from_bytes(a[at + 3:at + 69], "big")) for n, a in answers.items()
                  for at in range(2, len(a), 69) if int.from_bytes(a[at:at + 2], "big") == 5]
    assert shamir.reconstruct(key_shares, 3, length=32) == clients[5]._mask_key.private_bytes_raw()

    later, later_server, _ = _start(config, identities, roster, numbers=range(1, 5))       # same config, same id
    replayed_joins = {n: c.join() for n, c in later.items()} | {5: joins[5]}
    later_server.relay_joins(replayed_joins)
    later_adverts = {n: c.advertise(replayed_joins) for n, c in later.items()}     # 5's old nonce looks like any
    with pytest.raises(ProtocolViolationError, match="not signed by client 5's pinned identity for this round"):
        later[1].share_keys(later_adverts | {5: adverts[5]})


def test_an_old_advertisement_spliced_into_a_new_round_is_refused():
    identities, roster = secagg.new_identities(5)
    old_clients, _, old_joins = _start(_config(b"round label 0001"), identities, roster)
    old_adverts = {n: c.advertise(old_joins) for n, c in old_clients.items()}
    clients, _, joins = _start(_config(b"round label 0002"), identities, roster)
    adverts = {n: c.advertise(joins) for n, c in clients.items()}
    with pytest.raises(ProtocolViolationError, match="not signed by client 2's pinned identity for this round"):
        clients[1].share_keys(adverts | {2: old_adverts[2]})
    fresh = {n: secagg.Client(n, identities[n], roster, _config(b"round label 0001")) for n in range(1, 6)}
    with pytest.raises(ProtocolViolationError, match="lacks client 1's fresh nonce: it is replayed"):
        fresh[1].advertise(old_joins)                       # the whole old round replayed to a new client object
    with pytest.raises(ProtocolViolationError, match="already advertised keys for a round"):
        clients[1].advertise(joins)
    with pytest.raises(ProtocolViolationError, match="nonce listed for client 2 is malformed or names another"):
        fresh[1].advertise({1: fresh[1].join(), 2: fresh[3].join(), 3: fresh[2].join()})


def test_honest_rounds_reusing_identities_and_the_round_id_all_succeed():
    config = secagg.Config(clients=6, threshold=4, length=100, bits=10, round_id=b"the same label")
    identities = secagg.new_identities(6)
    rng = np.random.default_rng(0)
    sessions = set()
    for dropped in ({2}, set(), {5, 6}):
        plain = {n: rng.integers(-511, 512, 100) for n in range(1, 7)}
        ring = {n: secagg.to_ring(v, config.ring_bits) for n, v in plain.items()}
        result = secagg.secure_aggregate(ring, config, drop_before_masking=dropped, identities=identities)
        assert np.array_equal(secagg.from_ring(result.total, config.ring_bits),
                              sum(plain[n] for n in result.survivors))
        assert result.dropped == sorted(dropped)
        clients = {n: secagg.Client(n, identities[0][n], identities[1], config) for n in range(1, 7)}
        sessions.add(secagg.session_id(config, {n: c.join()[2:] for n, c in clients.items()}))
    assert len(sessions) == 3


# ------------------------------------------------------------------ t − 1 colluders
def _colluding_round(config, update):
    """One round of five clients, all of whose masked inputs reach the server; client 1's is ``update``."""
    identities, roster = secagg.new_identities(5)
    clients, server, joins = _start(config, identities, roster)
    adverts = {n: c.advertise(joins) for n, c in clients.items()}
    inboxes = server.route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    rng = np.random.default_rng(1)
    masked = {n: c.masked_input(update if n == 1 else secagg.to_ring(rng.integers(-127, 128, config.length),
                                                                     config.ring_bits), inboxes[n])
              for n, c in clients.items()}
    return clients, secagg.unpack(masked[1], config.ring_bits, config.length)


def _shares_for(peer, answer, kind):
    holder = int.from_bytes(answer[:2], "big")
    return [shamir.Share(holder, int.from_bytes(answer[at + 3:at + 69], "big")) for at in range(2, len(answer), 69)
            if int.from_bytes(answer[at:at + 2], "big") == peer and answer[at + 2:at + 3] == kind]


def _strip(seen, clients, peers, config):
    """Client 1's masked input without the pairwise masks it shares with ``peers``."""
    for peer in peers:
        mask = secagg.expand_mask(clients[peer].pairwise_seed(1), config.length, config.ring_bits)
        seen = seen - mask if secagg.mask_sign(1, peer) > 0 else seen + mask
    return seen & np.uint64((1 << config.ring_bits) - 1)


def _looks_uniform(values):
    return stats.chisquare(np.bincount(values.astype(np.int64) % 256, minlength=256)).pvalue > 1e-4


def test_server_and_t_minus_1_colluders_cannot_unmask_an_honest_client():
    """Clients 2 and 3 (t − 1 = 2 of 5) give the server everything they hold, their pairwise seeds and
    the shares others gave them. Against honest client 1 the coalition gets one of its two secrets
    at most, whichever survivor list it sends, and client 1's masked input stays uniform."""
    config = secagg.Config(clients=5, threshold=3, length=4000, bits=8)
    update = np.full(4000, 7, dtype=np.uint64)
    colluders, honest = (2, 3), (4, 5)

    # (a) the truth, "client 1 sent its input": the honest give its self-mask seed, so the coalition
    # strips that and the colluders' pairwise masks; its mask key has only the colluders' 2 shares
    clients, seen = _colluding_round(config, update)
    answers = {n: clients[n].unmask([1, 2, 3, 4, 5]) for n in honest}
    seed = shamir.reconstruct([s for a in answers.values() for s in _shares_for(1, a, b"S")]
                              + [clients[2]._held[1][1]], 3, length=32)
    assert not any(_shares_for(1, a, b"K") for a in answers.values())
    with pytest.raises(ValueError, match="need 3 shares"):
        shamir.reconstruct([clients[c]._held[1][0] for c in colluders], 3)
    with pytest.raises(ProtocolViolationError, match="already answered the unmasking round"):
        clients[4].unmask([2, 3, 4, 5])                       # then "client 1 dropped after all": refused
    left = _strip(seen - secagg.expand_mask(seed, config.length, config.ring_bits), clients, colluders, config)
    assert not np.array_equal(left, update) and _looks_uniform(left)

    # (b) the lie, "client 1 dropped": the honest give its mask key, so the coalition strips every
    # pairwise mask; its self-mask seed has only the colluders' 2 shares
    clients, seen = _colluding_round(config, update)
    answers = {n: clients[n].unmask([2, 3, 4, 5]) for n in honest}
    key_shares = [s for a in answers.values() for s in _shares_for(1, a, b"K")]
    mask_key = shamir.reconstruct(key_shares + [clients[2]._held[1][0]], 3, length=32)
    assert mask_key == clients[1]._mask_key.private_bytes_raw()
    assert not any(_shares_for(1, a, b"S") for a in answers.values())
    with pytest.raises(ValueError, match="need 3 shares"):
        shamir.reconstruct([clients[c]._held[1][1] for c in colluders], 3)
    left = _strip(seen, clients, (2, 3, 4, 5), config)
    assert not np.array_equal(left, update) and _looks_uniform(left)


# ------------------------------------------------------------------ distributed DP against colluders
def _noise_left(colluders_calibrated):
    """A round of exactly t = 7 survivors with all-zero updates: the server's sum, minus the noise that
    6 colluding survivors know they added, in units of σ·C."""
    sigma, clip = 1.0, 1.0
    mean = fl.SecureMean(clients=10, threshold=7, clip=clip, noise_multiplier=sigma, colluders=colluders_calibrated,
                         dropouts={0: {8, 9, 10}})
    updates = {n: torch.zeros(20_000) for n in range(1, 11)}
    total = mean(updates).double().numpy() * len(mean.last.survivors)
    survivors = mean.last.survivors
    known = sum(mean.last_noise[n] for n in survivors[1:])                 # the colluders' own draws
    left = total - secagg.dequantize(known, clip, mean.bits)
    return left.std() / (sigma * clip)


def test_colluders_who_subtract_their_noise_leave_the_central_noise():
    """Sized for c = t − 1 (the default), one honest survivor's noise alone is N(0, (σC)²)."""
    left = _noise_left(None)
    assert abs(left - 1) < 0.03
    sigma = privacy.noise_multiplier_left(4.0, 7, calibrated_for=6, colluders=6)
    assert sigma == 4.0 and round(privacy.epsilon(sigma, 0.1, 200, 1e-5), 2) == 1.43


def test_noise_sized_for_no_collusion_is_mostly_subtracted_by_colluders():
    """Sized for the threshold alone, 6 colluders of 7 survivors leave σC·√(1/7) = 0.378σC, and ε
    rises from 1.43 to 5.01 (σ = 4, q = 0.1, 200 steps, δ = 1e-5)."""
    left = _noise_left(0)
    assert abs(left - math.sqrt(1 / 7)) < 0.015
    assert round(privacy.epsilon(privacy.noise_multiplier_left(4.0, 7, calibrated_for=0, colluders=0),
                                 0.1, 200, 1e-5), 2) == 1.43
    under_collusion = privacy.noise_multiplier_left(4.0, 7, calibrated_for=0, colluders=6)
    assert abs(under_collusion - 4.0 / math.sqrt(7)) < 1e-12
    assert round(privacy.epsilon(under_collusion, 0.1, 200, 1e-5), 2) == 5.01


def test_different_survivor_lists_for_different_clients_do_unmask_one_outside_the_threat_model():
    """What the first guarantee's assumption is for: a server that tells client 4 "client 1 sent its
    input" and client 5 "client 1 dropped" gets one share of each secret from the honest, and with
    the colluders' shares, both secrets. Bonawitz et al.'s consistency round is what refuses this;
    the course does not implement it, and its threat model says so."""
    config = secagg.Config(clients=5, threshold=3, length=4000, bits=8)
    update = np.full(4000, 7, dtype=np.uint64)
    clients, seen = _colluding_round(config, update)
    told_survived, told_dropped = clients[4].unmask([1, 2, 3, 4, 5]), clients[5].unmask([2, 3, 4, 5])
    seed = shamir.reconstruct(_shares_for(1, told_survived, b"S") + [clients[c]._held[1][1] for c in (2, 3)], 3,
                              length=32)
    mask_key = shamir.reconstruct(_shares_for(1, told_dropped, b"K") + [clients[c]._held[1][0] for c in (2, 3)], 3,
                                  length=32)
    assert mask_key == clients[1]._mask_key.private_bytes_raw()
    left = _strip(seen - secagg.expand_mask(seed, config.length, config.ring_bits), clients, (2, 3, 4, 5), config)
    assert np.array_equal(left, update)                     # client 1's update, in the clear
