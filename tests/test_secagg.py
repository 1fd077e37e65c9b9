"""Shamir sharing and secure aggregation (chapter 10): correctness, dropouts, and the attacks they refuse."""
import math
import os
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from course_lib import secagg, shamir
from course_lib.errors import ProtocolViolationError, RingOverflowError, TooManyDropoutsError


# ------------------------------------------------------------------ Shamir
@given(st.binary(max_size=64), st.integers(1, 7), st.data())
@settings(max_examples=60, deadline=None)
def test_any_t_shares_reconstruct_the_secret(secret, threshold, data):
    holders = data.draw(st.integers(threshold, 9))
    shares = shamir.split_secret(secret, threshold, holders)
    chosen = data.draw(st.permutations(shares))[:threshold]
    assert shamir.reconstruct(chosen, threshold) == secret


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32), st.integers(2, 6))
@settings(max_examples=30, deadline=None)
def test_fewer_than_t_shares_fit_every_secret(secret, other, threshold):
    """Perfect secrecy: t − 1 shares lie on a degree-(t − 1) polynomial through (0, s') for ANY s'."""
    shares = shamir.split_secret(secret, threshold, threshold + 2)[:threshold - 1]
    fake = int.from_bytes(b"\x01" + bytes([len(other)]) + other, "big")
    points = [(0, fake)] + [(s.x, s.y) for s in shares]
    elsewhere = threshold + 2                     # the polynomial through (0, s') and the shares, at another x
    weights = shamir.lagrange_at_zero([x - elsewhere for x, _ in points])
    completed = shamir.Share(elsewhere, sum(w * y for w, (_, y) in zip(weights, points)) % shamir.PRIME)
    assert shamir.reconstruct(shares + [completed], threshold) == other
    with pytest.raises(ValueError, match=f"need {threshold} shares"):
        shamir.reconstruct(shares, threshold)


def test_fewer_than_t_shares_are_distributed_the_same_for_every_secret():
    """Chi-square on the low byte of one share: the same uniform distribution for two different secrets."""
    counts = {}
    for secret in (bytes(32), b"\xff" * 32):
        low = [shamir.split_secret(secret, 3, 5)[0].y & 0xFF for _ in range(4000)]
        counts[secret] = np.bincount(low, minlength=256)
        assert stats.chisquare(counts[secret]).pvalue > 1e-4
    assert stats.chi2_contingency(np.stack(list(counts.values()))).pvalue > 1e-4


def test_shamir_refuses_repeated_holders_bad_parameters_and_a_corrupted_share():
    shares = shamir.split_secret(os.urandom(32), 3, 5)
    with pytest.raises(ValueError, match="distinct holders"):
        shamir.reconstruct([shares[0], shares[0], shares[1]], 3)
    with pytest.raises(ValueError, match="threshold"):
        shamir.split_secret(b"x", 6, 5)
    with pytest.raises(ValueError, match="at most 64 bytes"):
        shamir.split_secret(bytes(65), 2, 3)
    for _ in range(200):                          # a random share passes the bare format check 1 time in 512
        corrupted = [shares[0], shares[1], shamir.Share(3, random.randrange(shamir.PRIME))]
        with pytest.raises(ValueError, match="do not lie on one sharing polynomial"):
            shamir.reconstruct(corrupted, 3, length=32)


def test_a_chosen_shift_goes_unseen_in_exactly_t_shares_and_is_refused_with_one_more():
    """A holder that adds λ⁻¹ to its share shifts the secret by 1, past the encoding check. A spare
    share is off the shifted polynomial: refused; with two spares the shifter is named."""
    secret = os.urandom(31) + b"\x00"                             # so that + 1 stays in the last byte
    shares = shamir.split_secret(secret, 3, 6)
    weight = shamir.lagrange_at_zero([1, 2, 3])[1]
    shifted = shamir.Share(2, (shares[1].y + pow(weight, -1, shamir.PRIME)) % shamir.PRIME)
    chosen = [shares[0], shifted, shares[2]]
    assert shamir.reconstruct(chosen, 3, length=32) == secret[:31] + b"\x01"       # silently wrong
    with pytest.raises(ValueError, match="6 shares do not lie on one polynomial of degree 2"):
        shamir.reconstruct(chosen + shares[3:], 3, length=32)
    with pytest.raises(ValueError, match="4 shares do not lie on one polynomial"):
        shamir.reconstruct([shares[3]] + chosen, 3, length=32)         # the spare first: still refused
    assert shamir.wrong_shares(shares, 3) == []
    assert shamir.wrong_shares(chosen + [shares[3]], 3) is None        # 4 shares: inconsistent, no telling whose
    assert shamir.wrong_shares(chosen + shares[3:5], 3) == [2]          # 5 shares: the one polynomial of 4
    two_wrong = [shares[0], shifted, shamir.Share(3, shares[2].y + 1), *shares[3:]]
    assert shamir.wrong_shares(two_wrong, 3) is None                   # 2 wrong of 6: more than ⌊(6 − 3)/2⌋
    with pytest.raises(ValueError, match="distinct holders"):
        shamir.wrong_shares([shares[0], shares[0], shares[1]], 2)


@given(st.integers(1, 6), st.integers(0, 6), st.data())
@settings(max_examples=40, deadline=None)
def test_wrong_shares_names_every_wrong_share_up_to_half_the_spares(threshold, spares, data):
    """Berlekamp–Welch: with m = t + spares shares, any ⌊spares/2⌋ wrong ones (random or chosen) are found."""
    shares = shamir.split_secret(os.urandom(32), threshold, threshold + spares)
    wrong = data.draw(st.sets(st.sampled_from([s.x for s in shares]), max_size=spares // 2))
    offsets = data.draw(st.lists(st.integers(1, shamir.PRIME - 1), min_size=len(wrong), max_size=len(wrong)))
    bad = {x: offset for x, offset in zip(sorted(wrong), offsets)}
    altered = [shamir.Share(s.x, (s.y + bad.get(s.x, 0)) % shamir.PRIME) for s in shares]
    assert sorted(shamir.wrong_shares(data.draw(st.permutations(altered)), threshold)) == sorted(bad)


# ------------------------------------------------------------------ quantisation and the ring
@given(st.lists(st.floats(-1, 1), min_size=1, max_size=50), st.integers(2, 24), st.floats(0.01, 10))
@settings(max_examples=200, deadline=None)
def test_quantisation_round_trips_within_half_a_step(values, bits, clip):
    x = np.array(values) * clip
    step = clip / (2 ** (bits - 1) - 1)
    back = secagg.dequantize(secagg.quantize(x, clip, bits), clip, bits)
    assert np.all(np.abs(back - x) <= step / 2 + 1e-9 * clip)


@given(st.integers(2, 200), st.integers(2, 20), st.sampled_from([1, -1]))
@settings(max_examples=100, deadline=None)
def test_the_ring_holds_the_sum_of_extreme_values(clients, bits, sign):
    k = secagg.ring_bits_for(clients, bits)
    extreme = 2 ** (bits - 1) - 1
    values = np.full((clients, 3), sign * extreme, dtype=np.int64)
    total = sum(secagg.to_ring(v, k) for v in values)
    assert np.all(secagg.from_ring(total, k) == sign * extreme * clients)


def test_too_few_ring_bits_wrap_the_sum():
    ten_updates = np.full((10, 1), 30_000, dtype=np.int64)            # 16-bit values
    assert secagg.from_ring(sum(secagg.to_ring(v, 16) for v in ten_updates), 16)[0] == 300_000 - 5 * 2 ** 16
    assert secagg.from_ring(sum(secagg.to_ring(v, 20) for v in ten_updates), 20)[0] == 300_000


def test_a_ring_too_small_for_the_sum_is_refused():
    with pytest.raises(RingOverflowError, match="needs 20 ring bits; with 16 it would wrap"):
        secagg.Config(clients=10, threshold=6, length=4, bits=16, ring_bits=16)
    with pytest.raises(ValueError, match="majority"):
        secagg.Config(clients=10, threshold=5, length=4)


@given(st.integers(1, 62), st.integers(1, 40))
@settings(max_examples=80, deadline=None)
def test_pack_round_trips_and_uses_exactly_k_bits_per_element(k, count):
    values = secagg.expand_mask(os.urandom(32), count, k)
    packed = secagg.pack(values, k)
    assert len(packed) == math.ceil(count * k / 8)
    assert np.array_equal(secagg.unpack(packed, k, count), values)


# ------------------------------------------------------------------ the protocol
def _round(clients=8, threshold=5, length=50, seed=0):
    config = secagg.Config(clients=clients, threshold=threshold, length=length, bits=12)
    rng = np.random.default_rng(seed)
    plain = {n: rng.integers(-2047, 2048, length) for n in range(1, clients + 1)}
    return config, plain, {n: secagg.to_ring(v, config.ring_bits) for n, v in plain.items()}


@given(st.sets(st.integers(1, 8), max_size=3), st.sets(st.integers(1, 8), max_size=3),
       st.sets(st.integers(1, 8), max_size=3))
@settings(max_examples=25, deadline=None)
def test_masks_cancel_for_any_dropouts_the_threshold_allows(before_sharing, before_masking, before_unmasking):
    config, plain, ring = _round()
    survivors = set(plain) - before_sharing - before_masking
    answering = survivors - before_unmasking
    kwargs = dict(drop_before_sharing=before_sharing, drop_before_masking=before_masking,
                  drop_before_unmasking=before_unmasking)
    if len(survivors) < config.threshold or len(answering) < config.threshold:
        with pytest.raises(TooManyDropoutsError, match="threshold is 5"):
            secagg.secure_aggregate(ring, config, **kwargs)
        return
    result = secagg.secure_aggregate(ring, config, **kwargs)
    assert result.survivors == sorted(survivors)
    assert result.dropped == sorted(set(plain) - before_sharing - survivors)
    assert np.array_equal(secagg.from_ring(result.total, config.ring_bits), sum(plain[n] for n in survivors))


def test_the_servers_view_of_one_masked_input_is_uniform():
    """One client, the same update every round: what the server receives is uniform in Z_2^k."""
    config = secagg.Config(clients=3, threshold=2, length=2000, bits=6, ring_bits=8)
    update = np.full(2000, 5, dtype=np.int64)
    ring = {n: secagg.to_ring(update, 8) for n in (1, 2, 3)}
    seen = secagg.secure_aggregate(ring, config).masked_inputs[1]
    assert stats.chisquare(np.bincount(seen.astype(np.int64), minlength=256)).pvalue > 1e-4


def test_a_client_revealed_as_dropped_after_all_keeps_its_input_hidden_by_its_self_mask():
    """The server claims client 1 dropped, rebuilds its mask key, strips every pairwise mask from its
    late masked input: the self-mask still hides the update."""
    config, plain, ring = _round(clients=5, threshold=3, length=2000)
    private, roster = secagg.new_identities(5)
    clients = {n: secagg.Client(n, private[n], roster, config) for n in plain}
    adverts = _advertise(clients)
    inboxes = secagg.Server(config).route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    late = secagg.unpack(clients[1].masked_input(ring[1], inboxes[1]), config.ring_bits, config.length)
    for n in (2, 3, 4, 5):
        clients[n].masked_input(ring[n], inboxes[n])
    answers = [clients[n].unmask([2, 3, 4, 5]) for n in (2, 3, 4, 5)]
    key_shares = []
    for answer in answers:
        for at in range(2, len(answer), 69):
            if int.from_bytes(answer[at:at + 2], "big") == 1:
                assert answer[at + 2:at + 3] == b"K"           # client 1 "dropped": its key, never its seed
                key_shares.append(shamir.Share(int.from_bytes(answer[:2], "big"),
                                               int.from_bytes(answer[at + 3:at + 69], "big")))
    mask_key = shamir.reconstruct(key_shares, 3)
    assert mask_key == clients[1]._mask_key.private_bytes_raw()
    stripped = late.copy()
    for peer in (2, 3, 4, 5):
        mask = secagg.expand_mask(clients[peer].pairwise_seed(1), config.length, config.ring_bits)
        stripped = stripped - mask if secagg.mask_sign(1, peer) > 0 else stripped + mask
    stripped &= np.uint64((1 << config.ring_bits) - 1)
    left = secagg.from_ring(stripped, config.ring_bits)
    assert not np.array_equal(left, plain[1])
    assert np.array_equal(secagg.from_ring(stripped - secagg.expand_mask(clients[1]._self_seed, config.length,
                                                                         config.ring_bits), config.ring_bits),
                          plain[1])                       # only the self-mask stood between them


def _advertise(clients):
    """The nonce round, then round 0: every client's signed keys."""
    joins = {n: c.join() for n, c in clients.items()}
    return {n: c.advertise(joins) for n, c in clients.items()}


def _clients(config, plain):
    private, roster = secagg.new_identities(config.clients)
    clients = {n: secagg.Client(n, private[n], roster, config) for n in plain}
    return clients, _advertise(clients)


def test_a_server_substituting_a_clients_keys_is_refused():
    config, plain, _ = _round()
    private, roster = secagg.new_identities(config.clients)
    clients = {n: secagg.Client(n, private[n], roster, config) for n in plain}
    joins = {n: c.join() for n, c in clients.items()}
    impostor = secagg.Client(3, secagg.new_identities(8)[0][3], roster, config)
    impostor._nonce = clients[3]._nonce                            # the server plays client 3 in this very round
    adverts = {n: c.advertise(joins) for n, c in clients.items()}
    forged = dict(adverts)
    forged[3] = impostor.advertise(joins)                         # the server's own keys, in client 3's name
    with pytest.raises(ProtocolViolationError, match="not signed by client 3's pinned identity"):
        clients[1].share_keys(forged)


def test_keys_replayed_from_another_round_or_for_an_unknown_client_are_refused():
    config, plain, _ = _round()
    clients, adverts = _clients(config, plain)
    older = secagg.Config(clients=8, threshold=5, length=50, bits=12)       # another round id
    replayed = _advertise({n: secagg.Client(n, clients[n].identity, clients[n].roster, older) for n in plain})[2]
    with pytest.raises(ProtocolViolationError, match="not signed by client 2's pinned identity"):
        clients[1].share_keys(adverts | {2: replayed})
    with pytest.raises(ProtocolViolationError, match="client 9, who is not on the roster"):
        clients[1].share_keys(adverts | {9: adverts[2]})
    with pytest.raises(ProtocolViolationError, match="names another client"):
        clients[1].share_keys(adverts | {4: adverts[2]})


def test_tampered_or_redirected_shares_are_refused():
    config, plain, ring = _round()
    clients, adverts = _clients(config, plain)
    inboxes = secagg.Server(config).route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    tampered = dict(inboxes[1])
    message = bytearray(tampered[2])
    message[40] ^= 1
    tampered[2] = bytes(message)
    with pytest.raises(ProtocolViolationError, match="shares from client 2 to client 1 failed authentication"):
        clients[1].masked_input(ring[1], tampered)
    with pytest.raises(ProtocolViolationError, match="addressed as from client 3 to 2, delivered as from client 3"):
        clients[4].masked_input(ring[4], inboxes[4] | {3: inboxes[2][3]})


def test_a_client_never_reveals_both_secrets_of_one_peer():
    config, plain, ring = _round()
    clients, adverts = _clients(config, plain)
    inboxes = secagg.Server(config).route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    for n, c in clients.items():
        c.masked_input(ring[n], inboxes[n])
    clients[1].unmask([1, 2, 3, 4, 5, 6, 7, 8])             # self-mask shares of everyone
    with pytest.raises(ProtocolViolationError, match="already answered the unmasking round"):
        clients[1].unmask([1, 2, 3, 4, 5])                   # now "6, 7, 8 dropped": their mask keys
    with pytest.raises(ProtocolViolationError, match="never shared keys"):
        clients[2].unmask([1, 2, 3, 4, 5, 9])
    with pytest.raises(TooManyDropoutsError, match="only 4 clients sent masked inputs"):
        clients[3].unmask([1, 2, 3, 4])


def test_a_wrong_unmasking_share_or_a_malformed_input_is_refused():
    config, plain, ring = _round()
    clients, adverts = _clients(config, plain)
    inboxes = secagg.Server(config).route_shares({n: c.share_keys(adverts) for n, c in clients.items()})
    masked = {n: c.masked_input(ring[n], inboxes[n]) for n, c in clients.items()}
    answers = {n: c.unmask(sorted(masked)) for n, c in clients.items()}
    corrupted = bytearray(answers[1])
    corrupted[10:40] = os.urandom(30)                            # a share of client 1's own seed
    keys = {n: a[34:66] for n, a in adverts.items()}
    server = secagg.Server(config)
    with pytest.raises(ProtocolViolationError, match="never relayed"):
        server.unmask(masked, answers, set(masked), keys)
    server.relay_joins({n: c.join() for n, c in clients.items()})
    with pytest.raises(ProtocolViolationError, match="shares of client 1's self-mask seed are inconsistent: client 1's "
                                                     "share is off the polynomial the other 7 agree on"):
        server.unmask(masked, answers | {1: bytes(corrupted)}, set(masked), keys)
    with pytest.raises(ProtocolViolationError, match="the unmasking answer of client 1 lists a client twice"):
        server.unmask(masked, answers | {1: answers[1] + answers[1][2:71]}, set(masked), keys)
    with pytest.raises(ProtocolViolationError, match="is 94 bytes, got 93"):
        server.unmask(masked | {2: masked[2][:-1]}, answers, set(masked), keys)
    assert np.array_equal(secagg.from_ring(server.unmask(masked, answers, set(masked), keys)[0], config.ring_bits),
                          sum(plain.values()))


def test_each_client_step_is_taken_once_and_in_order():
    """advertise, share_keys, masked_input, unmask: each once, in that order; a refused call changes nothing."""
    config, plain, ring = _round(clients=5, threshold=3, length=10)
    private, roster = secagg.new_identities(5)
    clients = {n: secagg.Client(n, private[n], roster, config) for n in plain}
    first = clients[1]
    joins = {n: c.join() for n, c in clients.items()}
    for early in (lambda: first.share_keys({}), lambda: first.masked_input(ring[1], {}),
                  lambda: first.unmask([1, 2, 3])):
        with pytest.raises(ProtocolViolationError, match="client 1 was asked for .* before advertise: the steps are "
                                                         "advertise, share_keys, masked_input, unmask"):
            early()
    adverts = {n: c.advertise(joins) for n, c in clients.items()}
    with pytest.raises(ProtocolViolationError, match="client 1 already advertised keys"):
        first.advertise(joins)
    with pytest.raises(ProtocolViolationError, match="asked for masked_input before share_keys"):
        first.masked_input(ring[1], {})
    with pytest.raises(ProtocolViolationError, match="names another client"):
        first.share_keys(adverts | {4: adverts[2]})                    # refused: still at share_keys
    outboxes = {n: c.share_keys(adverts) for n, c in clients.items()}
    with pytest.raises(ProtocolViolationError, match="client 1 already shared its keys for this round"):
        first.share_keys(adverts)
    with pytest.raises(ProtocolViolationError, match="asked for unmask before masked_input"):
        first.unmask([1, 2, 3, 4, 5])
    inboxes = secagg.Server(config).route_shares(outboxes)
    with pytest.raises(TooManyDropoutsError, match="only 2 clients shared keys with client 1; the threshold is 3"):
        first.masked_input(ring[1], {2: inboxes[1][2]})                # fewer than t − 1 peers
    masked = {n: c.masked_input(ring[n], inboxes[n]) for n, c in clients.items()}
    with pytest.raises(ProtocolViolationError, match="client 1 already sent its masked input for this round"):
        first.masked_input(ring[1], {2: inboxes[1][2], 3: inboxes[1][3]})
    answers = {n: c.unmask(sorted(masked)) for n, c in clients.items()}
    with pytest.raises(ProtocolViolationError, match="already answered the unmasking round"):
        first.unmask(sorted(masked))
    with pytest.raises(ProtocolViolationError, match="already sent its masked input"):
        first.masked_input(ring[1], inboxes[1])
    server = secagg.Server(config)
    server.relay_joins(joins)
    total, _ = server.unmask(masked, answers, set(masked), {n: a[34:66] for n, a in adverts.items()})
    assert np.array_equal(secagg.from_ring(total, config.ring_bits), sum(plain.values()))


def test_costs_are_counted_per_client():
    config, plain, ring = _round(clients=10, threshold=6, length=1000)
    result = secagg.secure_aggregate(ring, config, drop_before_masking={4})
    masked_bytes = math.ceil(1000 * config.ring_bits / 8)
    assert result.bytes_sent[1] > masked_bytes
    assert result.bytes_sent[4] < masked_bytes                  # dropped before sending its input
    assert result.server_seconds > 0 and all(seconds > 0 for seconds in result.client_seconds.values())
    assert result.bytes_sent[1] == secagg.client_bytes_sent(config)["total"]


def test_the_cost_model_meets_the_papers_expansion_at_its_scale():
    """Bonawitz et al., Table 2: 2^10 clients, 2^20 16-bit values, 1.73× expansion."""
    config = secagg.Config(clients=2 ** 10, threshold=2 ** 9 + 1, length=2 ** 20, bits=16)
    assert config.ring_bits == 26
    assert 1.70 < secagg.client_bytes_sent(config)["expansion"] < 1.76


def test_shares_replayed_from_an_earlier_round_are_refused():
    config, plain, ring = _round()
    private, roster = secagg.new_identities(config.clients)
    earlier = {n: secagg.Client(n, private[n], roster, config) for n in plain}
    earlier_keys = _advertise(earlier)
    old_inboxes = secagg.Server(config).route_shares({n: c.share_keys(earlier_keys) for n, c in earlier.items()})
    later = {n: secagg.Client(n, private[n], roster, config) for n in plain}      # the same round id, reused
    later_keys = _advertise(later)
    inboxes = secagg.Server(config).route_shares({n: c.share_keys(later_keys) for n, c in later.items()})
    with pytest.raises(ProtocolViolationError, match="shares from client 2 to client 1 failed authentication"):
        later[1].masked_input(ring[1], inboxes[1] | {2: old_inboxes[1][2]})
