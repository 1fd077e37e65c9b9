"""Chapter 10's attacks within its own threat model: an honest-but-curious server that may reuse its
round ids, ask any client for any step again or out of order, collude with up to t − 1 clients,
and invert whatever sum it is given; and, named ``test_limit_…``, attacks outside it that succeed
and that the chapter documents as limits."""
import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats
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


# ------------------------------------------------------------------ one masked input per client
def _to_masking(config):
    """Everyone advertises and shares keys; the server relays every message to everyone."""
    identities, roster = secagg.new_identities(config.clients)
    clients, server, joins = _start(config, identities, roster, numbers=range(1, config.clients + 1))
    adverts = {n: c.advertise(joins) for n, c in clients.items()}
    inboxes = server.route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    return clients, server, adverts, inboxes


def _strip_known(seen, config, seed, server, adverts, keys, clients, colluders, me=1):
    """Client ``me``'s masked input minus its self-mask (``seed``), the masks of the dropped clients
    whose mask keys the server rebuilt (``keys``), and those of the colluders."""
    k, length = config.ring_bits, config.length
    seen = seen - secagg.expand_mask(seed, length, k)
    public = secagg.x25519.X25519PublicKey.from_public_bytes(adverts[me][34:66])
    for dropped, key in keys.items():
        mask = secagg.expand_mask(secagg._mask_seed(key, public, server.session, dropped, me), length, k)
        seen = seen - mask if secagg.mask_sign(me, dropped) > 0 else seen + mask
    return _strip(seen, clients, colluders, config)


def _rebuilt(answers, peer, kind, extra=()):
    return shamir.reconstruct([s for a in answers.values() for s in _shares_for(peer, a, kind)] + list(extra), 3,
                              length=32)


@pytest.mark.parametrize("colluders, dropped", [((), (4, 5)), ((2, 3), ())], ids=["no colluders, 4 and 5 dropped",
                                                                                    "2 and 3 collude, none dropped"])
def test_a_second_masked_input_request_is_refused(colluders, dropped):
    """A round that ends with the right sum leaves the server client 1's self-mask seed and the
    dropped clients' mask keys. It then asks client 1 to mask its update again with only the
    dropped clients' (or the colluders') shares in the inbox: every mask of that second input would
    be one the coalition can remove. Refused; and the one masked input it did get stays uniform."""
    config = secagg.Config(clients=5, threshold=3, length=4000, bits=8)
    rng = np.random.default_rng(0)
    inputs = {n: secagg.to_ring(rng.integers(-127, 128, config.length), config.ring_bits) for n in range(1, 6)}
    clients, server, adverts, inboxes = _to_masking(config)
    masked = {n: c.masked_input(inputs[n], inboxes[n]) for n, c in clients.items() if n not in dropped}
    survivors = sorted(masked)                                     # the truth, sent to everyone
    answers = {n: clients[n].unmask(survivors) for n in survivors}
    total, _ = server.unmask(masked, answers, set(adverts), {n: a[34:66] for n, a in adverts.items()})
    assert np.array_equal(total, sum(inputs[n] for n in survivors) & np.uint64((1 << config.ring_bits) - 1))
    seed = _rebuilt(answers, 1, b"S")
    keys = {d: secagg.x25519.X25519PrivateKey.from_private_bytes(_rebuilt(answers, d, b"K")) for d in dropped}

    known = set(colluders) | set(dropped)
    with pytest.raises(ProtocolViolationError, match="client 1 already sent its masked input for this round"):
        clients[1].masked_input(inputs[1], {p: m for p, m in inboxes[1].items() if p in known})
    left = _strip_known(secagg.unpack(masked[1], config.ring_bits, config.length), config, seed, server, adverts,
                        keys, clients, colluders)
    assert not np.array_equal(left, inputs[1]) and _looks_uniform(left)    # the honest peers' masks remain


def test_a_first_masked_input_with_fewer_than_t_minus_1_peers_is_refused():
    """Client 1 masks with at least t − 1 peers, or not at all: an inbox from one peer is refused,
    and the refused call leaves client 1 ready for the real one."""
    config = secagg.Config(clients=5, threshold=3, length=64, bits=8)
    clients, _, _, inboxes = _to_masking(config)
    update = np.full(64, 7, dtype=np.uint64)
    with pytest.raises(cl.errors.TooManyDropoutsError, match="only 2 clients shared keys with client 1"):
        clients[1].masked_input(update, {2: inboxes[1][2]})
    clients[1].masked_input(update, inboxes[1])


def _withheld_round(config, inputs, colluders):
    """The active attack: client 1's inbox holds only the colluders' share messages (everyone else's
    holds all); nobody drops, the true survivor list goes to everyone. Returns client 1's masked
    input with every mask the coalition can remove removed."""
    clients, server, adverts, inboxes = _to_masking(config)
    withheld = {p: m for p, m in inboxes[1].items() if p in colluders}
    masked = {n: c.masked_input(inputs[n], withheld if n == 1 else inboxes[n]) for n, c in clients.items()}
    everyone = sorted(masked)
    with pytest.raises(ProtocolViolationError, match="never shared keys with client 1"):
        clients[1].unmask(everyone)                    # client 1 sees the list name peers it never heard from
    answers = {n: clients[n].unmask(everyone) for n in everyone if n != 1}
    seed = shamir.reconstruct([s for a in answers.values() for s in _shares_for(1, a, b"S")],
                              config.threshold, length=32)
    left = _strip_known(secagg.unpack(masked[1], config.ring_bits, config.length), config, seed, server, adverts,
                        {}, clients, colluders)
    return left


def test_limit_an_active_server_that_withholds_share_messages_isolates_one_client():
    """Outside the threat model (the server must deliver every message to every client): a server
    that withholds the honest peers' share messages from client 1 alone makes it mask with the
    t − 1 colluders only — to client 1 this looks like honest peers dropping out — and reads its
    update exactly. Bonawitz et al. (CCS 2017, §6) guarantee against an active server only sums of
    at least t − c honest inputs: one input for c = t − 1."""
    config = secagg.Config(clients=5, threshold=3, length=4000, bits=16)
    rng = np.random.default_rng(0)
    plain = {n: rng.integers(-32767, 32768, config.length) for n in range(1, 6)}
    inputs = {n: secagg.to_ring(v, config.ring_bits) for n, v in plain.items()}
    left = _withheld_round(config, inputs, colluders=(2, 3))
    assert np.array_equal(secagg.from_ring(left, config.ring_bits), plain[1])


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


def _gaussian_epsilon(sigma, steps, delta):
    """Exact ε of ``steps`` Gaussian mechanisms at q = 1: together they are μ-GDP with μ = √T/σ, and
    μ-GDP is (ε, δ)-DP for δ = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2) (Dong, Roth & Su, "Gaussian
    Differential Privacy", JRSS B 2022; Balle & Wang, ICML 2018, for one Gaussian)."""
    mu = math.sqrt(steps) / sigma
    return optimize.brentq(lambda e: stats.norm.cdf(-e / mu + mu / 2) - math.exp(e) * stats.norm.cdf(-e / mu - mu / 2)
                           - delta, 0, 500)


def test_colluders_who_subtract_their_noise_leave_the_central_noise():
    """Sized for c = t − 1 (the default), one honest survivor's noise alone is N(0, (σC)²). Against
    the server, which picks and sees who takes part, each round counts at q = 1 (client-level DP):
    ε = 20.69 for σ = 4, 200 rounds, δ = 1e-5, as the exact Gaussian composition says. The 1.43
    of q = 0.1 holds only if the participants are drawn by randomness the server cannot see."""
    left = _noise_left(None)
    assert abs(left - 1) < 0.03
    sigma = privacy.noise_multiplier_left(4.0, 7, calibrated_for=6, colluders=6)
    against_server = privacy.epsilon(sigma, 1.0, 200, 1e-5)
    assert sigma == 4.0 and round(against_server, 2) == 20.69
    assert abs(against_server - _gaussian_epsilon(4.0, 200, 1e-5)) < 0.05
    assert round(privacy.epsilon(sigma, 0.1, 200, 1e-5), 2) == 1.43        # hidden sampling only


def test_noise_sized_for_no_collusion_is_mostly_subtracted_by_colluders():
    """Sized for the threshold alone, 6 colluders of 7 survivors leave σC·√(1/7) = 0.378σC, and ε
    against the server rises from 20.69 to 82.8 (σ = 4, q = 1, 200 rounds, δ = 1e-5; 1.43 to 5.01
    at q = 0.1, were the participants drawn where the server cannot see)."""
    left = _noise_left(0)
    assert abs(left - math.sqrt(1 / 7)) < 0.015
    assert round(privacy.epsilon(privacy.noise_multiplier_left(4.0, 7, calibrated_for=0, colluders=0),
                                 1.0, 200, 1e-5), 2) == 20.69
    under_collusion = privacy.noise_multiplier_left(4.0, 7, calibrated_for=0, colluders=6)
    assert abs(under_collusion - 4.0 / math.sqrt(7)) < 1e-12
    against_server = privacy.epsilon(under_collusion, 1.0, 200, 1e-5)
    assert abs(against_server - 82.8) < 0.1
    assert abs(against_server - _gaussian_epsilon(under_collusion, 200, 1e-5)) < 0.1
    assert round(privacy.epsilon(under_collusion, 0.1, 200, 1e-5), 2) == 5.01


def test_noise_sized_for_fewer_colluders_cannot_be_isolated_by_a_re_mask_request():
    """Noise sized for c = 0 colluders (n = 13, t = 7) and 6 genuine dropouts: the server holds
    client 1's self-mask seed and the 6 dropped clients' mask keys after a correct round. A second
    masked input from client 1 with only the dropped clients' shares would carry client 1's noise
    share alone, σC·√(1/7); it is refused, so the 7 survivors' noise stays in everything it sees."""
    sigma, clip, bits = 1.0, 1.0, 16
    config = secagg.Config(clients=13, threshold=7, length=2000, bits=bits, ring_bits=34)
    mu = privacy.distributed_noise_mu(sigma, clip, bits, 7, colluders=0)
    inputs = {n: secagg.to_ring(privacy.skellam_noise(mu, config.length), 34) for n in range(1, 14)}
    clients, server, adverts, inboxes = _to_masking(config)
    dropped = range(8, 14)
    masked = {n: clients[n].masked_input(inputs[n], inboxes[n]) for n in range(1, 8)}
    answers = {n: clients[n].unmask(sorted(masked)) for n in masked}
    total, _ = server.unmask(masked, answers, set(adverts), {n: a[34:66] for n, a in adverts.items()})
    noise = secagg.dequantize(secagg.from_ring(total, 34), clip, bits)
    assert abs(noise.std() / sigma - 1) < 0.1                          # the central noise, from 7 shares
    with pytest.raises(ProtocolViolationError, match="client 1 already sent its masked input"):
        clients[1].masked_input(inputs[1], {p: inboxes[1][p] for p in dropped})


@pytest.mark.parametrize("sized_for, left_expected", [(0, math.sqrt(1 / 3)), (2, 1.0)],
                         ids=["sized for no colluders", "sized for t - 1 colluders"])
def test_limit_an_active_server_that_isolates_one_client_leaves_only_its_own_noise(sized_for, left_expected):
    """The withholding attack above on noisy updates (n = 5, t = 3, 2 colluders): the isolated update
    carries its own noise share alone. Sized for c = 0 that is σC·√(1/3), below the central σC;
    sized for c = t − 1 (h = 1, the default) it is the whole σC. So against an active server only
    the default sizing holds."""
    sigma, clip, bits = 1.0, 1.0, 16
    config = secagg.Config(clients=5, threshold=3, length=20_000, bits=bits, ring_bits=34)
    mu = privacy.distributed_noise_mu(sigma, clip, bits, 3, colluders=sized_for)
    inputs = {n: secagg.to_ring(privacy.skellam_noise(mu, config.length), 34) for n in range(1, 6)}
    left = _withheld_round(config, inputs, colluders=(2, 3))
    isolated = secagg.dequantize(secagg.from_ring(left, 34), clip, bits)
    assert np.array_equal(secagg.from_ring(left, 34), secagg.from_ring(inputs[1], 34))
    assert abs(isolated.std() / (sigma * clip) - left_expected) < 0.03


# ------------------------------------------------------------------ a wrong unmasking share
def _shifted_round(answering):
    """Five clients, all survivors; ``answering`` answer the unmasking round, and client 2 moves its
    share of client 3's self-mask seed by λ₂⁻¹, λ₂ its weight among the first t answers: from those
    t the seed changes in its last bit, a valid encoding. Returns (the server's unmasking, the true sum)."""
    config = secagg.Config(clients=5, threshold=3, length=1000, bits=8)
    inputs = {n: np.full(1000, n, dtype=np.uint64) for n in range(1, 6)}
    clients, server, adverts, inboxes = _to_masking(config)
    masked = {n: c.masked_input(inputs[n], inboxes[n]) for n, c in clients.items()}
    answers = {n: clients[n].unmask([1, 2, 3, 4, 5]) for n in answering}
    first = sorted(answering)[:3]
    weight = shamir.lagrange_at_zero(first)[first.index(2)]
    answer = bytearray(answers[2])
    at = 2 + 2 * 69                                                   # its entry for peer 3 (peers 1…5 in order)
    assert int.from_bytes(answer[at:at + 2], "big") == 3 and answer[at + 2:at + 3] == b"S"
    y = int.from_bytes(answer[at + 3:at + 69], "big")
    answer[at + 3:at + 69] = ((y + pow(weight, -1, shamir.PRIME)) % shamir.PRIME).to_bytes(66, "big")
    answers[2] = bytes(answer)
    want = sum(inputs.values()) & np.uint64((1 << config.ring_bits) - 1)
    return lambda: server.unmask(masked, answers, set(adverts), {n: m[34:66] for n, m in adverts.items()})[0], want


def test_a_chosen_share_shift_is_refused_when_a_spare_share_exists():
    """Client 2 adds λ₂⁻¹ to its share of client 3's self-mask seed: with the first t shares alone
    the seed moves by one, passes the encoding check, and every value of the sum would be wrong.
    With all five answers the shares are checked against each other: refused, naming client 2;
    with four, refused without a name."""
    unmask, _ = _shifted_round(answering=(1, 2, 3, 4, 5))
    with pytest.raises(ProtocolViolationError, match="client 3's self-mask seed are inconsistent: client 2's share "
                                                     "is off the polynomial the other 4 agree on"):
        unmask()
    unmask, _ = _shifted_round(answering=(1, 2, 3, 4))
    with pytest.raises(ProtocolViolationError, match="4 shares of client 3's self-mask seed are inconsistent, and too "
                                                     "many disagree to tell"):
        unmask()


def test_limit_a_chosen_share_shift_with_exactly_t_shares_goes_undetected():
    """With exactly t = 3 answers nothing can be checked but the encoding: client 2's chosen shift
    makes the sum silently wrong, a fresh random mask left in it (a value is right only by chance,
    1 in 2^11). Verifiable secret sharing (Feldman, FOCS 1987) would refuse it; the course does not
    implement it."""
    unmask, want = _shifted_round(answering=(1, 2, 4))
    total = unmask()
    assert (total != want).mean() > 0.98


def test_limit_two_colluders_shifting_together_are_refused_but_can_blame_an_honest_client():
    """Clients 2 and 4 shift their shares along one polynomial that vanishes at 1 and 3: the shares
    of 1–4 then agree on a wrong polynomial and client 5's honest share is the odd one out. The sum
    is still refused (t honest shares, of 1, 3 and 5, fix the true polynomial), but the error names
    client 5: the naming holds only if at most ⌊(m − t)/2⌋ = 1 share is wrong."""
    config = secagg.Config(clients=5, threshold=3, length=100, bits=8)
    inputs = {n: np.full(100, n, dtype=np.uint64) for n in range(1, 6)}
    clients, server, adverts, inboxes = _to_masking(config)
    masked = {n: c.masked_input(inputs[n], inboxes[n]) for n, c in clients.items()}
    answers = {n: clients[n].unmask([1, 2, 3, 4, 5]) for n in clients}
    for shifter in (2, 4):                              # D(x) = (x − 1)(x − 3): D(2) = −1, D(4) = 3, D(0) = 3
        answer = bytearray(answers[shifter])
        at = 2 + 2 * 69
        y = int.from_bytes(answer[at + 3:at + 69], "big")
        answer[at + 3:at + 69] = ((y + (shifter - 1) * (shifter - 3)) % shamir.PRIME).to_bytes(66, "big")
        answers[shifter] = bytes(answer)
    with pytest.raises(ProtocolViolationError, match="client 5's share is off the polynomial the other 4 agree on "
                                                     r"\(the wrong ones, if at most 1 of the 5 shares are wrong\)"):
        server.unmask(masked, answers, set(adverts), {n: m[34:66] for n, m in adverts.items()})


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
