"""Chapter 10b: Flower's SecAgg+ mask generator reproduced, attacked and replaced (course_lib.fl_audit).

Tests marked with ``flwr`` need Flower 1.42.0 and skip without it; run them with an interpreter that has
it, e.g. ``PYTHONPATH=. /path/to/flwr-python -m pytest tests/test_fl_audit.py``.
"""
import base64
import os

import numpy as np
import pytest

from course_lib import fl_audit
from course_lib.errors import SecureAggregationError

M, T = 1 << 32, 1 << 22          # Flower's default modulus_range and quantization_range


def _pairwise_seed() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))    # what generate_shared_key returns: base64url of 32 bytes


# --- the reproduction ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("modulus", [M, 1 << 16, 1000, 6])
def test_batched_mt19937_equals_randomstate_including_rejections(modulus):
    seeds = np.random.default_rng(modulus).integers(0, 2 ** 32, 2000).astype(np.uint32)
    expected = np.stack([fl_audit.mt_mask(int(s), modulus, 7) for s in seeds])
    assert np.array_equal(fl_audit.mt_masks(seeds, modulus, 7), expected)


def test_flower_mask_draws_one_stream_over_all_arrays():
    seed = _pairwise_seed()
    shapes = [(1,), (), (3, 4), (5,)]
    arrays = fl_audit.flower_mask(seed, M, shapes)
    assert [a.shape for a in arrays] == shapes
    flat = np.concatenate([a.reshape(-1) for a in arrays])
    assert np.array_equal(flat, fl_audit.mt_mask(fl_audit.fold32(seed), M, flat.size))
    assert flat.max() <= M - 2


def test_fold_refuses_a_seed_of_the_wrong_length():
    with pytest.raises(fl_audit.MaskParameterError, match="multiple of 4"):
        fl_audit.fold32(b"abc")


# --- the seeds' entropy -------------------------------------------------------------------------------------

def test_pairwise_folds_never_set_bit_7_of_a_byte():
    model = fl_audit.pairwise_seed_entropy()
    assert model["always_zero_bits"] == 0x80808080 and model["possible_values"] == 2 ** 28
    assert 27.9 < model["min_entropy_bits"] < model["shannon_bits"] <= 28
    measured = fl_audit.measure_folds([fl_audit.fold32(_pairwise_seed()) for _ in range(20_000)])
    assert measured["bits_ever_set"] == 0x7F7F7F7F


def test_pairwise_seed_of_real_key_agreements_has_the_same_structure():
    from cryptography.hazmat.primitives.asymmetric import ec
    keys = [ec.generate_private_key(ec.SECP384R1()) for _ in range(201)]
    seeds = [fl_audit.flower_pairwise_seed(a, b.public_key()) for a, b in zip(keys, keys[1:])]
    assert {len(s) for s in seeds} == {44} and {s[-1:] for s in seeds} == {b"="}
    assert fl_audit.measure_folds([fl_audit.fold32(s) for s in seeds])["bits_ever_set"] & 0x80808080 == 0


def test_collision_entropy_estimate():
    folds = np.random.default_rng(0).integers(0, 2 ** 20, 20_000)
    estimate = fl_audit.measure_folds(folds)["collision_entropy_estimate_bits"]
    assert 19 < estimate < 21


# --- the attack ---------------------------------------------------------------------------------------------

def _masked_client(sign, seed, length=500, rng=0):
    update = np.random.default_rng(rng).integers(0, T + 1, length)
    update[0] = T                                    # Flower's weight factor, q_ratio = T at full weight
    return update, np.mod(update + sign * fl_audit.mt_mask(fl_audit.fold32(seed), M, length), M)


@pytest.mark.parametrize("sign", [1, -1])
def test_search_recovers_the_update_exactly_from_one_masked_input(sign):
    seed = _pairwise_seed()
    update, rest = _masked_client(sign, seed)
    space = fl_audit.SeedSpace.pairwise().reduced(fl_audit.fold32(seed), 16)
    assert fl_audit.fold32(seed) in space and space.size == 2 ** 16
    result = fl_audit.search_mask_seed(rest, space, M, T, sign)
    assert result.seeds == [fl_audit.fold32(seed)] and np.array_equal(result.update, update)
    assert result.tried == 2 ** 16


def test_search_with_the_wrong_sign_finds_nothing():
    seed = _pairwise_seed()
    _, rest = _masked_client(1, seed)
    result = fl_audit.search_mask_seed(rest, fl_audit.SeedSpace.pairwise().reduced(fl_audit.fold32(seed), 14),
                                       M, T, -1)
    assert result.seeds == [] and result.update is None


def test_first_stage_false_positive_rate_matches_the_model():
    """A wrong seed passes one value's range test with probability (bound + 1) / modulus: here 2^-6."""
    rest = np.random.default_rng(1).integers(0, 1 << 16, 50)
    space = fl_audit.SeedSpace.private().reduced(0, 18)
    result = fl_audit.search_mask_seed(rest, space, 1 << 16, (1 << 10) - 1, 1, test_elements=1)
    expected = space.size * fl_audit.false_positive_rate((1 << 10) - 1, 1 << 16, 1)
    assert abs(result.first_stage_passes - expected) < 6 * expected ** 0.5
    assert result.seeds == []                         # none passes all 49 values (2^-294 each)


def test_the_aes_fix_defeats_the_same_search():
    """The attack on an AES-masked input: every MT19937 seed near the fold of the real seed fails."""
    seed = _pairwise_seed()
    update = np.random.default_rng(2).integers(0, T + 1, 500)
    rest = np.mod(update - fl_audit.expand_mask_aes(seed, update.shape, M), M)
    result = fl_audit.search_mask_seed(rest, fl_audit.SeedSpace.pairwise().reduced(fl_audit.fold32(seed), 18),
                                       M, T, -1)
    assert result.seeds == [] and result.update is None and result.tried == 2 ** 18


def test_search_refuses_unusable_parameters():
    rest = np.zeros(10, dtype=np.int64)
    space = fl_audit.SeedSpace.pairwise().reduced(0, 4)
    for kwargs, message in (({"sign": 2}, "sign"), ({"bound": M}, "bound"), ({"test_elements": 20}, "test_elements")):
        args = {"rest": rest, "space": space, "modulus": M, "bound": T, "sign": 1, **kwargs}
        with pytest.raises(fl_audit.MaskParameterError, match=message):
            fl_audit.search_mask_seed(**args)
    with pytest.raises(fl_audit.MaskParameterError, match="unknown_bits"):
        fl_audit.SeedSpace.pairwise().reduced(0, 29)


# --- the fix ------------------------------------------------------------------------------------------------

def test_expand_mask_aes_is_deterministic_uniform_and_uses_the_whole_seed():
    seed = _pairwise_seed()
    first = fl_audit.expand_mask_aes(seed, (200, 50), M)
    assert first.shape == (200, 50) and first.dtype == np.int64
    assert np.array_equal(first, fl_audit.expand_mask_aes(seed, (200, 50), M))
    swapped = seed[4:8] + seed[:4] + seed[8:]             # two words swapped: the same fold, one MT19937 mask …
    assert seed != swapped and fl_audit.fold32(swapped) == fl_audit.fold32(seed)
    assert not np.array_equal(first, fl_audit.expand_mask_aes(swapped, (200, 50), M))      # … two AES masks
    for modulus in (1 << 10, 1000):
        values = fl_audit.expand_mask_aes(os.urandom(32), (100_000,), modulus)
        assert values.min() >= 0 and values.max() < modulus
        counts = np.bincount(values, minlength=modulus)
        chi2 = ((counts - values.size / modulus) ** 2 / (values.size / modulus)).sum()
        assert abs(chi2 - (modulus - 1)) < 6 * (2 * (modulus - 1)) ** 0.5


def test_aes_generator_splits_one_stream_like_flowers():
    seed = os.urandom(32)
    arrays = fl_audit.aes_pseudo_rand_gen(seed, M, [(1,), (), (3, 4)])
    assert [a.shape for a in arrays] == [(1,), (), (3, 4)]
    assert np.array_equal(np.concatenate([a.reshape(-1) for a in arrays]), fl_audit.expand_mask_aes(seed, (14,), M))


@pytest.mark.parametrize("seed, shape, modulus, message", [(b"short", (3,), M, "16 bytes"),
                                                           (b"k" * 32, (3,), 2 ** 33, "modulus"),
                                                           (b"k" * 32, (3,), 2.5, "modulus"),
                                                           (b"k" * 32, (-1,), M, "negative")])
def test_expand_mask_aes_refuses_bad_input(seed, shape, modulus, message):
    with pytest.raises(fl_audit.MaskParameterError, match=message) as caught:
        fl_audit.expand_mask_aes(seed, shape, modulus)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, SecureAggregationError)


# --- against the installed Flower ---------------------------------------------------------------------------

def _flower():
    flwr = pytest.importorskip("flwr")
    if flwr.__version__ != fl_audit.FLOWER_VERSION:
        pytest.skip(f"written against Flower {fl_audit.FLOWER_VERSION}")
    import importlib        # the packages export functions of the same names as these modules
    return (importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod"),
            importlib.import_module("flwr.server.workflow.secure_aggregation.secaggplus_workflow"))


def test_reproduction_equals_the_installed_pseudo_rand_gen():
    mod, _ = _flower()
    from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
    for seed in (os.urandom(32), _pairwise_seed(), b"a" * 32):
        for modulus in (M, 1 << 16, 1000):
            shapes = [(1,), (), (7, 3), (11,)]
            theirs, ours = pseudo_rand_gen(seed, modulus, shapes), fl_audit.flower_mask(seed, modulus, shapes)
            assert all(np.array_equal(a, b) and a.shape == b.shape for a, b in zip(theirs, ours))


def _secaggplus_round(clients, dropped, share_num=None):
    """One SecAgg+ round run through the installed client mod's own stage functions.

    The server's part is done here as Flower's workflow does it (same helpers). Returns what an
    honest-but-curious server holds at the end, plus the ground truth for the test.
    """
    mod, workflow = _flower()
    from flwr.common import ndarrays_to_parameters, bytes_to_ndarray
    from flwr.common.secure_aggregation.crypto.shamir import combine_shares
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.common.secure_aggregation.secaggplus_constants import Key
    from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key
    nids = list(range(1, clients + 1))
    share_num = share_num or clients
    config = {Key.SAMPLE_NUMBER: clients, Key.SHARE_NUMBER: share_num, Key.THRESHOLD: 2,
              Key.CLIPPING_RANGE: 8.0, Key.TARGET_RANGE: T, Key.MOD_RANGE: M, Key.MAX_WEIGHT: 1000.0}
    states = {n: mod.SecAggPlusState() for n in nids}
    public = {}
    for n in nids:
        states[n].nid = n
        keys = mod._setup(states[n], config)
        public[n] = (keys[Key.PUBLIC_KEY_1], keys[Key.PUBLIC_KEY_2])
    inbox = {n: [] for n in nids}
    for n in nids:
        sent = mod._share_keys(states[n], {str(m): public[m] for m in nids})
        for dst, ciphertext in zip(sent[Key.DESTINATION_LIST], sent[Key.CIPHERTEXT_LIST]):
            inbox[dst].append((n, ciphertext))
    rng = np.random.default_rng(5)
    params = {n: [rng.normal(0, 0.5, (6, 5)).astype(np.float32), rng.normal(0, 0.5, (9,)).astype(np.float32)]
              for n in nids}
    survivors = [n for n in nids if n not in dropped]
    masked = {}
    for n in survivors:
        stage2 = {Key.CIPHERTEXT_LIST: [c for _, c in inbox[n]], Key.SOURCE_LIST: [s for s, _ in inbox[n]]}
        out = mod._collect_masked_vectors(states[n], stage2, 1000, ndarrays_to_parameters(params[n]))
        masked[n] = [bytes_to_ndarray(b) for b in out[Key.MASKED_PARAMETERS]]
    shares = {n: [] for n in nids}
    for n in survivors:
        out = mod._unmask(states[n], {Key.ACTIVE_NODE_ID_LIST: survivors, Key.DEAD_NODE_ID_LIST: sorted(dropped)})
        for owner, share in zip(out[Key.NODE_ID_LIST], out[Key.SHARE_LIST]):
            shares[owner].append(share)
    secrets = {n: combine_shares(shares[n]) for n in nids}     # rd_seed of a survivor, sk1 of a dropped client
    shapes = [a.shape for a in next(iter(masked.values()))]

    def pairwise(owner_sk1, peer):
        return generate_shared_key(bytes_to_private_key(owner_sk1), bytes_to_public_key(public[peer][0]))

    return {"masked": masked, "secrets": secrets, "shapes": shapes, "params": params, "states": states,
            "pairwise": pairwise, "generator": lambda: workflow.pseudo_rand_gen, "survivors": survivors}


def _attack(round_, target, unknown_peer, unknown_bits):
    """The server's attack on ``target``: strip what it knows, search the one unknown pairwise mask's seed."""
    gen = round_["generator"]()
    shapes, secrets = round_["shapes"], round_["secrets"]
    known = [(1, gen(secrets[target], M, shapes))]                      # the private mask (unmask stage)
    for dead in set(secrets) - set(round_["survivors"]):                # a dropped neighbour's pairwise mask
        known.append((1 if target > dead else -1, gen(round_["pairwise"](secrets[dead], target), M, shapes)))
    rest = fl_audit.residual(round_["masked"][target], known, M)
    true_seed = round_["pairwise"](round_["states"][target].sk1, unknown_peer)    # only to place the reduced space
    space = fl_audit.SeedSpace.pairwise().reduced(fl_audit.fold32(true_seed), unknown_bits)
    return fl_audit.search_mask_seed(rest, space, M, T, 1 if target > unknown_peer else -1)


def _dequantised(update):
    """Flower's dequantisation of one client's recovered integers (weight factor first, full weight here)."""
    assert update[0] == T
    return update[1:] * (16.0 / T) - 8.0


def test_server_recovers_a_client_update_from_a_real_two_client_round():
    round_ = _secaggplus_round(2, dropped=set())
    result = _attack(round_, target=1, unknown_peer=2, unknown_bits=20)
    assert len(result.seeds) == 1
    original = np.concatenate([p.reshape(-1) for p in round_["params"][1]])
    assert np.abs(_dequantised(result.update) - original).max() <= 16.0 / T        # one quantisation step


def test_server_recovers_a_client_update_when_one_of_its_neighbours_dropped():
    """Three clients, each with two neighbours (num_shares 3, Flower's smallest integer value): client 3 drops
    after sharing keys, the server rebuilds its mask key as the protocol says, and client 1 is left with one
    unknown mask."""
    round_ = _secaggplus_round(3, dropped={3}, share_num=3)
    result = _attack(round_, target=1, unknown_peer=2, unknown_bits=20)
    assert len(result.seeds) == 1
    original = np.concatenate([p.reshape(-1) for p in round_["params"][1]])
    assert np.abs(_dequantised(result.update) - original).max() <= 16.0 / T


def test_patched_flower_still_aggregates_and_the_search_fails():
    _flower()
    with fl_audit.flower_aes_masks():
        round_ = _secaggplus_round(3, dropped={3}, share_num=3)
        gen = round_["generator"]()
        assert gen is fl_audit.aes_pseudo_rand_gen
        shapes, secrets = round_["shapes"], round_["secrets"]
        total = sum(fl_audit.residual(round_["masked"][n], [(1, gen(secrets[n], M, shapes))], M)
                    for n in round_["survivors"])
        for n in round_["survivors"]:                                   # the dropped client's pairwise masks
            total = total - (1 if n > 3 else -1) * np.concatenate(
                [a.reshape(-1) for a in gen(round_["pairwise"](secrets[3], n), M, shapes)])
        total = np.mod(total, M)
        original = sum(np.concatenate([p.reshape(-1) for p in round_["params"][n]]) for n in round_["survivors"])
        assert total[0] == 2 * T
        assert np.abs(total[1:] * (16.0 / T) - 8.0 * 2 - original).max() <= 2 * 16.0 / T
        result = _attack(round_, target=1, unknown_peer=2, unknown_bits=20)
    assert result.seeds == [] and result.update is None and result.tried == 2 ** 20
    assert all(module.pseudo_rand_gen is not fl_audit.aes_pseudo_rand_gen for module in _flower())   # restored
