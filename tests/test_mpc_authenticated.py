"""SPDZ2k (chapter 08): the authenticated mode computes what the plaintext computes, and every deviation of
either computing party — in any opening, the comparison's included, and in the MAC check itself — raises
CheatingDetectedError before any output reaches a party."""
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib import digits, mpc
from course_lib.mpc import SecretTensor, attacks, authentication, programs
from course_lib.mpc.errors import CheatingDetectedError
from course_lib.mpc.wide import Wide, from_int, mul_full, to_int

from . import mpc_programs

M128 = 2**128
X = torch.tensor([1.5, -2.0, 3.0], dtype=torch.float64)
Y = torch.tensor([-1.0, 2.5, 0.5], dtype=torch.float64)
TRIALS = 200
# bits opened per tree level (n = 3): per node pair, one e = P − a shared by both products and an f per product;
# the lowest node and the root need G only (one product); the first level is linear (the edaBit's pair products)
TREE_WIDTHS = (32, 16, 8, 4, 2)
TREE_BITS = [3 * (2 + 3 * (width // 2 - 1)) if width > 2 else 3 * 2 for width in TREE_WIDTHS]
SHARED_OPENINGS = [3 * width // 2 for width in TREE_WIDTHS]       # the e's come first in each level's message


def _grid(x):
    return torch.round(x * 2**16) / 2**16


# ---------------------------------------------------------------------------------------------- the ring Z_2^128
words = st.integers(0, 2**64 - 1)
elements = st.integers(0, M128 - 1)


@settings(max_examples=60, deadline=None)
@given(a=st.lists(elements, min_size=6, max_size=6), b=st.lists(elements, min_size=6, max_size=6),
       c=st.lists(words, min_size=6, max_size=6))
def test_wide_ring_arithmetic_equals_python_integers_mod_2_128(a, b, c):
    A, B, C = from_int(a), from_int(b), np.array(c, dtype=np.uint64)
    assert to_int(A + B) == [(x + y) % M128 for x, y in zip(a, b)]
    assert to_int(A - B) == [(x - y) % M128 for x, y in zip(a, b)]
    assert to_int(-A) == [(-x) % M128 for x in a]
    assert to_int(A.scale(C)) == [(w * x) % M128 for w, x in zip(c, a)]
    assert to_int(A.shift_up()) == [(x << 64) % M128 for x in a]
    assert to_int(A.sum()) == sum(a) % M128
    lo, hi = mul_full(C, C[::-1].copy())
    assert [int(l) + (int(h) << 64) for l, h in zip(lo, hi)] == [x * y for x, y in zip(c, c[::-1])]


@settings(max_examples=30, deadline=None)
@given(left=st.lists(words, min_size=6, max_size=6), right=st.lists(elements, min_size=12, max_size=12))
def test_wide_matrix_products_equal_python_integers_mod_2_128(left, right):
    P, S = np.array(left, dtype=np.uint64).reshape(2, 3), from_int(np.array(right, dtype=object).reshape(3, 4).tolist())
    expected = [[sum(left[3 * i + k] * right[4 * k + j] for k in range(3)) % M128 for j in range(4)] for i in range(2)]
    assert to_int(S.matmul_left(P)) == expected
    Q = np.array(left, dtype=np.uint64).reshape(3, 2)
    T = from_int(np.array(right, dtype=object).reshape(4, 3).tolist())
    assert to_int(T.matmul_right(Q)) == [[sum(right[3 * i + k] * left[2 * k + j] for k in range(3)) % M128
                                          for j in range(2)] for i in range(4)]


def test_statistical_security_is_at_least_40_bits():
    assert authentication.ARITHMETIC == {"k": 64, "s": 64} and authentication.BINARY == {"k": 1, "s": 63}
    assert authentication.STATISTICAL_SECURITY_BITS == 57 >= 40
    assert authentication.escape_bound(63) == 2.0**-57


# ---------------------------------------------------------------------------------------------- honest runs
@settings(max_examples=8, deadline=None)
@given(x=st.lists(st.floats(-30, 30), min_size=16, max_size=16), y=st.lists(st.floats(-30, 30), min_size=16, max_size=16))
def test_authenticated_protocols_agree_with_plaintext(x, y):
    x = torch.tensor(x, dtype=torch.float64).reshape(4, 4)
    y = torch.tensor(y, dtype=torch.float64).reshape(4, 4)
    results, _ = mpc.run_in_process(mpc_programs.mixed_operations, shape=(4, 4), authenticated=True,
                                    private_inputs={0: {"x": x}, 1: {"y": y}})
    out, gx, gy, lsb = results[0]["revealed"], _grid(x), _grid(y), 2 ** -16
    assert torch.equal(out["add"], gx + gy)
    assert torch.allclose(out["mul"], gx * gy, rtol=0, atol=2 * lsb)
    assert torch.allclose(out["matmul"], gx @ gy, rtol=0, atol=5 * lsb)
    assert torch.allclose(out["scaled"], gx * 0.5, rtol=0, atol=2 * lsb)
    assert torch.equal(out["relu"], torch.clamp(gx, min=0))
    assert torch.equal(out["lt"], (gx < gy).long())


def _sign_of_raw(ctx, x=None, n=0):
    return SecretTensor.from_owner(ctx, x, 0, shape=(n,), frac_bits=0).lt_zero().reveal()


def test_the_authenticated_comparison_is_exact_at_every_magnitude():
    """[x < 0] for ring elements of every size, up to ±2^63: leaf 63's own propagate bit decides the sign.

    Deriving it from leaf 63 after the tree has made that leaf the identity gives
    [c mod 2^63 < r mod 2^63] instead, wrong with probability |x|/2^63 (3/4 at ±3·2^61)."""
    rng = np.random.default_rng(7)
    edges = [3 * 2**61, -3 * 2**61, 2**63 - 1, -2**63, 2**62, -2**62, 1, -1, 0]
    raw = torch.tensor(edges * 16 + rng.integers(-2**63, 2**63 - 1, 256, dtype=np.int64).tolist(), dtype=torch.int64)
    results, _ = mpc.run_in_process(_sign_of_raw, authenticated=True, secure=False, timeout=60,
                                    private_inputs={0: {"x": raw, "n": len(raw)}, 1: {"n": len(raw)}, 2: {"n": len(raw)}})
    assert torch.equal(results[0], (raw < 0).long())


def _relu_of(ctx, x=None, n=0):
    return SecretTensor.from_owner(ctx, x, 0, shape=(n,)).relu().reveal()


def test_the_authenticated_relu_keeps_large_values():
    """ReLU near the top of the fixed-point range (±0.99·2^46): positive values kept, negative ones zeroed."""
    x = torch.tensor([0.99 * 2**46, -0.99 * 2**46] * 64, dtype=torch.float64)
    results, _ = mpc.run_in_process(_relu_of, authenticated=True, secure=False, timeout=60,
                                    private_inputs={0: {"x": x, "n": len(x)}, 1: {"n": len(x)}, 2: {"n": len(x)}})
    assert torch.allclose(results[0], torch.clamp(x, min=0), rtol=1e-9, atol=1e-3)


def test_authenticated_private_inference_has_the_plaintext_accuracy():
    model, _, _, test_x, test_y = digits.task()
    inputs = {0: {"layers": programs.model_layers(model)}, 1: {"images": test_x.double()}}
    results, _ = mpc.run_in_process(programs.private_inference, batch=100, n_samples=len(test_x), authenticated=True,
                                    private_inputs=inputs)
    assert torch.equal(results[1]["logits"].argmax(1), model(test_x).argmax(1))     # 0.9578, as in plaintext
    assert results[0]["logits"] is None


def test_honest_runs_never_abort():
    for _ in range(50):
        mpc_programs.TRIAL_OUTPUTS.clear()
        results, _ = mpc.run_in_process(mpc_programs.cheating_trial, authenticated=True, secure=False,
                                        private_inputs={0: {"x": X}, 1: {"y": Y}})
        assert torch.equal(results[0], (X < Y).long())
        assert torch.allclose(results[1], torch.clamp(X * Y, min=0), atol=1e-4)


def test_authenticated_mode_across_processes():
    x = torch.tensor([[1.5, -2.25, 0.0, -1.0]] * 4, dtype=torch.float64)
    results, _ = mpc.run_distributed(mpc_programs.mixed_operations, shape=(4, 4), authenticated=True, timeout=60,
                                     private_inputs={0: {"x": x}, 1: {"y": x.t().contiguous()}})
    assert torch.equal(results[0]["revealed"]["relu"], torch.clamp(x, min=0))


# ---------------------------------------------------------------------------------------------- every deviation
def _run_cheat(deviation):
    mpc_programs.TRIAL_OUTPUTS.clear()
    try:
        mpc.run_in_process(mpc_programs.cheating_trial, authenticated=True, secure=False, timeout=30,
                           private_inputs={0: {"x": X}, 1: {"y": Y}}, deviation=deviation)
    except CheatingDetectedError as error:
        assert not mpc_programs.TRIAL_OUTPUTS, f"an output reached a party before the abort: {deviation}"
        return str(error)
    return None


def _escapes(deviations):
    escaped = [d for d in deviations if _run_cheat(d) is None]
    return len(escaped), escaped[:3]


ARITHMETIC_OPENINGS = ["mul", "truncate", "compare mask", "relu", "reveal"]


@pytest.mark.parametrize("attacker", [programs.MODEL_OWNER, programs.DATA_OWNER])
def test_an_additive_error_at_every_bit_of_an_arithmetic_opening_is_detected(attacker):
    """256 runs per role: every bit position 0–63, four times each, in a random arithmetic opening."""
    rng = random.Random(f"arithmetic {attacker}")
    deviations = [dict(attacker=attacker, kind="add", bit=bit, label=rng.choice(ARITHMETIC_OPENINGS),
                       occurrence=1, index=rng.randrange(6)) for bit in range(64) for _ in range(4)]
    assert _escapes(deviations) == (0, [])


def test_an_error_above_the_64_bits_of_a_value_never_changes_an_output():
    """Bits 64–127 of an opened value carry no information (SPDZ2k computes modulo 2^64): an error there is
    caught or harmless — every run that finishes returns the honest outputs."""
    rng = random.Random("high limb")
    finished = 0
    for bit in range(64):
        deviation = dict(attacker=bit % 2, kind="add high", bit=bit, label=rng.choice(ARITHMETIC_OPENINGS[:3]),
                         occurrence=1, index=rng.randrange(6))
        mpc_programs.TRIAL_OUTPUTS.clear()
        try:
            results, _ = mpc.run_in_process(mpc_programs.cheating_trial, authenticated=True, secure=False, timeout=30,
                                            private_inputs={0: {"x": X}, 1: {"y": Y}}, deviation=deviation)
        except CheatingDetectedError:
            continue
        finished += 1
        assert torch.equal(results[0], (X < Y).long())
        assert torch.allclose(results[1], torch.clamp(X * Y, min=0), atol=1e-4)
    assert finished < 64


@pytest.mark.parametrize("attacker", [programs.MODEL_OWNER, programs.DATA_OWNER])
def test_a_flipped_bit_in_any_opened_value_of_the_comparison_is_detected(attacker):
    """200 runs per role: one bit flipped in a random opening of either comparison (any level of the
    adder tree, ReLU's conversion or the bit conversion), plus every bit of the last opening flipped."""
    rng = random.Random(f"comparison {attacker}")
    deviations = []
    for _ in range(TRIALS):
        where = rng.randrange(12)
        if where < 10:                                     # 5 tree levels in each of the two comparisons
            deviations.append(dict(attacker=attacker, kind="flip", label="compare", occurrence=where + 1,
                                   index=rng.randrange(TREE_BITS[where % 5])))
        else:
            label = "relu" if where == 10 else "bit conversion"
            deviations.append(dict(attacker=attacker, kind="flip", label=label, occurrence=1, index=rng.randrange(3)))
    deviations += [dict(attacker=attacker, kind="flip all", label=label, occurrence=1) for label in ("relu", "bit conversion")]
    assert _escapes(deviations) == (0, [])


def test_the_tree_opens_what_its_levels_need():
    """Per comparison of n = 3 values: the tree's five levels open exactly TREE_BITS words, in 5 rounds."""
    sizes = []

    def program(ctx, x=None, y=None):
        def tamper(label, flat):
            if label == "compare":
                sizes.append(flat.numel())
            return flat
        ctx.tamper = tamper if ctx.rank == 0 else None
        X3 = SecretTensor.from_owner(ctx, x, 0, shape=mpc_programs.TRIAL_SHAPE)
        return X3.relu().reveal()
    results, _ = mpc.run_in_process(program, authenticated=True, secure=False, timeout=30, private_inputs={0: {"x": X}})
    assert sizes == TREE_BITS and torch.equal(results[0], torch.clamp(X, min=0))


def _shared_opening_error(attacker, occurrence, index, bit):
    """A program in which ``attacker`` adds 2^bit to one word of one tree level's message (the trial's otherwise)."""
    def program(ctx, x=None, y=None):
        if ctx.rank == attacker:
            seen = []

            def tamper(label, flat):
                if label == "compare":
                    seen.append(label)
                    if len(seen) == occurrence:
                        flat = flat.clone()
                        flat[index] += (1 << bit) - (1 << 64 if bit == 63 else 0)
                return flat
            ctx.tamper = tamper
        return mpc_programs.cheating_trial(ctx, x=x, y=y)
    return program


@pytest.mark.parametrize("attacker", [programs.MODEL_OWNER, programs.DATA_OWNER])
def test_an_additive_error_at_every_bit_of_a_shared_opening_is_detected_or_harmless(attacker):
    """64 runs per role: 2^bit added to the opened e = P − a that serves both products of a tree node (a
    random level of either comparison, a random node). An error in bit 0 changes the bit: always detected. Bits
    1–63 of a bit's opening carry nothing (the ring is Z_2^(1+63)): caught or harmless, never a wrong output."""
    rng = random.Random(f"shared opening {attacker}")
    detected_bit0, finished_wrong = 0, 0
    for bit in range(64):
        level = rng.randrange(10)
        index = rng.randrange(SHARED_OPENINGS[level % 5])
        mpc_programs.TRIAL_OUTPUTS.clear()
        try:
            results, _ = mpc.run_in_process(_shared_opening_error(attacker, level + 1, index, bit), authenticated=True,
                                            secure=False, timeout=30, private_inputs={0: {"x": X}, 1: {"y": Y}})
        except CheatingDetectedError:
            assert not mpc_programs.TRIAL_OUTPUTS
            detected_bit0 += bit == 0
            continue
        finished_wrong += not (torch.equal(results[0], (X < Y).long())
                               and torch.allclose(results[1], torch.clamp(X * Y, min=0), atol=1e-4))
    assert detected_bit0 == 1 and finished_wrong == 0


@pytest.mark.parametrize("attacker", [programs.MODEL_OWNER, programs.DATA_OWNER])
def test_a_flipped_bit_in_either_factor_of_a_shared_product_is_detected(attacker):
    """100 runs per role: bit 0 of a random word of a tree level's message flipped — the shared e, or the f of
    the G product or of the P product — always detected before any output."""
    rng = random.Random(f"shared product {attacker}")
    for _ in range(100):
        level = rng.randrange(10)
        index = rng.randrange(TREE_BITS[level % 5])
        mpc_programs.TRIAL_OUTPUTS.clear()
        with pytest.raises(CheatingDetectedError):
            mpc.run_in_process(_shared_opening_error(attacker, level + 1, index, 0), authenticated=True, secure=False,
                               timeout=30, private_inputs={0: {"x": X}, 1: {"y": Y}})
        assert not mpc_programs.TRIAL_OUTPUTS


def test_the_dealers_pair_products_and_shared_triples_are_right():
    """The edaBit's r₂ᵢ·r₂ᵢ₊₁ and the triples (a, b₁, b₂, a·b₁, a·b₂) open to what they claim, MACs included."""
    def program(ctx):
        (_, _), (bits, mac_bits), (pairs, mac_pairs) = ctx.dealer.eda_bits(5)
        ((a, mac_a), bs, cs), = ctx.dealer.binary_triples([(7, 2)])
        _, opened = authentication.open_values(ctx, binary=[(bits, mac_bits), (pairs, mac_pairs), (a, mac_a)]
                                               + bs + cs, label="test")
        authentication.check_macs(ctx)
        return [o & np.uint64(1) for o in opened]
    results, _ = mpc.run_in_process(program, authenticated=True, secure=False, timeout=30)
    r, q, a, b1, b2, c1, c2 = results[0]
    assert np.array_equal(q, r[:, 0::2] & r[:, 1::2])
    assert np.array_equal(c1, a & b1) and np.array_equal(c2, a & b2)
    assert 0 < r.sum() < r.size


@pytest.mark.parametrize("attacker", [programs.MODEL_OWNER, programs.DATA_OWNER])
def test_a_wrong_truncation_result_is_detected(attacker):
    """200 runs per role: the party adds 2^bit to its share of a truncation's result (no message changed)."""
    rng = random.Random(f"truncation {attacker}")
    deviations = [dict(attacker=attacker, kind="add", label="truncate result", occurrence=1, bit=rng.randrange(64),
                       index=rng.randrange(3)) for _ in range(TRIALS)]
    assert _escapes(deviations) == (0, [])


@pytest.mark.parametrize("attacker", [programs.MODEL_OWNER, programs.DATA_OWNER])
def test_a_wrong_share_sent_into_the_mac_check_is_detected(attacker):
    """200 runs per role: a bit of the committed z changed (the cheater commits to the wrong value)."""
    rng = random.Random(f"check {attacker}")
    deviations = [dict(attacker=attacker, kind="check", label="MAC check",
                       occurrence=rng.choice([1, 2]), bit=rng.randrange(64), index=rng.randrange(24))
                  for _ in range(TRIALS)]
    assert _escapes(deviations) == (0, [])


def test_a_party_that_shifts_another_partys_input_is_refused():
    """Only the owner's message makes an authenticated input: party 1 adding to party 0's x is refused by name."""
    message = _run_cheat(dict(attacker=1, kind="add", label="input", occurrence=1, bit=20, index=0))
    assert message.startswith("party 1 sent a non-zero contribution to party 0's input")


# ---------------------------------------------------------------------------------------------- the expert's attacks
def test_the_weight_extraction_attack_is_detected_before_any_output():
    model, _, _, test_x, _ = digits.task()
    inputs = {0: {"layers": programs.model_layers(model)}, 1: {"image": test_x[0].double()}}
    with pytest.raises(CheatingDetectedError, match="before any output is revealed"):
        mpc.run_in_process(attacks.extract_second_layer, authenticated=True, private_inputs=inputs, timeout=30)


def test_relu_flips_that_would_steal_the_second_layer_are_detected():
    model, _, _, test_x, _ = digits.task()
    with pytest.raises(CheatingDetectedError, match="MAC check failed"):
        mpc.run_in_process(attacks.steer_relus, authenticated=True, timeout=30,
                           private_inputs={0: {"layers": programs.model_layers(model)}, 1: {"image": test_x[0].double()}})


def test_a_model_owner_flipping_every_relu_is_detected():
    model, _, _, test_x, _ = digits.task()
    with pytest.raises(CheatingDetectedError, match="MAC check failed"):
        mpc.run_in_process(attacks.sabotage_relus, authenticated=True, timeout=30,
                           private_inputs={0: {"layers": programs.model_layers(model)},
                                           1: {"images": test_x[:100].double()}})


def test_the_semi_honest_protocol_does_not_notice_the_same_flips():
    model, _, _, test_x, _ = digits.task()
    layers = programs.model_layers(model)
    results, _ = mpc.run_in_process(attacks.steer_relus, timeout=30,
                                    private_inputs={0: {"layers": layers}, 1: {"image": test_x[0].double()}})
    stolen = attacks.second_layer_from_logits(results[1])                      # −|h_j| · (row j of W₂ᵀ)
    cosine = torch.nn.functional.cosine_similarity(stolen, layers[1][0].t(), dim=1)
    assert cosine.max().item() < -0.9999


# ---------------------------------------------------------------------------------------------- more deviations
def test_private_training_runs_authenticated_and_matches_its_plaintext_twin():
    _, train_x, train_y, _, _ = digits.task()
    x, y = train_x[:48].double(), torch.nn.functional.one_hot(train_y[:48], 10).double()
    kwargs = dict(rows=(24, 24), epochs=1, batch=16)
    results, _ = mpc.run_in_process(programs.private_training, authenticated=True, timeout=120,
                                    private_inputs={0: {"x": x[:24], "y": y[:24]}, 1: {"x": x[24:], "y": y[24:]}},
                                    **kwargs)
    w, b = programs.plain_training(x, y, epochs=1, batch=16)
    assert torch.allclose(results[0][0], w, atol=1e-3) and torch.allclose(results[0][1], b, atol=1e-3)


def test_a_plain_share_is_refused_in_authenticated_mode():
    def program(ctx):
        return SecretTensor(ctx, torch.zeros(3, dtype=torch.int64)).reveal()
    with pytest.raises(mpc.MPCError, match="in authenticated mode a share needs its MAC"):
        mpc.run_in_process(program, authenticated=True, timeout=30)


def _bump(w, bit, index):
    """w + 2^bit at one element (a value's low 64 bits), as a cheater computing its own share wrongly."""
    delta = np.zeros(w.lo.size, dtype=np.uint64)
    delta[index % w.lo.size] = np.uint64(1) << np.uint64(bit)
    return w + Wide(delta.reshape(w.shape))


LOCAL_DEVIATIONS = ["product", "product mac", "relu result", "lt result", "edabit bit", "edabit pair product",
                    "dabit arithmetic copy", "input mask share"]


@pytest.mark.parametrize("where", LOCAL_DEVIATIONS)
def test_a_party_that_computes_its_own_share_wrongly_is_detected(where, monkeypatch):
    """No message changed: the cheater's own share (or MAC share) of a result is off — in a Beaver product, ReLU's
    or the comparison's result, an edaBit's bit, a daBit's arithmetic copy, its input mask. 16 runs per place."""
    from course_lib.mpc import authenticated as at, authenticated_compare as ac, authenticated_dealer as ad
    plan = {}

    def cheating(ctx):
        return plan and ctx.rank == plan["attacker"] and not ctx.is_dealer

    beaver, relu, lt = at.AuthenticatedTensor._beaver, ac.relu, ac.lt_zero
    eda, dabits, mask = ad.AuthenticatedDealer.eda_bits, ad.AuthenticatedDealer.dabits, ad.AuthenticatedDealer.input_mask

    def bad_beaver(self, other, kind):
        out = beaver(self, other, kind)
        if cheating(self.ctx) and where.startswith("product"):
            if where == "product mac":
                return out._like(out.share, _bump(out.mac, plan["bit"], plan["index"]))
            return out._like(_bump(out.share, plan["bit"], plan["index"]), out.mac)
        return out

    def bad_result(original, name):
        def run(ctx, x):
            share, mac = original(ctx, x)
            return (_bump(share, plan["bit"], plan["index"]), mac) if cheating(ctx) and where == name else (share, mac)
        return run

    def bad_eda(self, n):
        (r, mr), (bits, mb), (pairs, mp) = eda(self, n)
        if cheating(self.ctx) and where == "edabit bit":
            bits = bits.copy()
            bits.reshape(-1)[plan["index"] * 7 % bits.size] ^= np.uint64(1)
        if cheating(self.ctx) and where == "edabit pair product":
            pairs = pairs.copy()
            pairs.reshape(-1)[plan["index"] * 5 % pairs.size] ^= np.uint64(1)
        return (r, mr), (bits, mb), (pairs, mp)

    def bad_dabits(self, n):
        (b, mb), (ba, mba) = dabits(self, n)
        if cheating(self.ctx) and where == "dabit arithmetic copy":
            ba = _bump(ba, plan["bit"], plan["index"])
        return (b, mb), (ba, mba)

    def bad_mask(self, shape, owner):
        r, mac, full = mask(self, shape, owner)
        if cheating(self.ctx) and where == "input mask share" and r.lo.size:
            r = _bump(r, plan["bit"], plan["index"])
        return r, mac, full

    monkeypatch.setattr(at.AuthenticatedTensor, "_beaver", bad_beaver)
    monkeypatch.setattr(ac, "relu", bad_result(relu, "relu result"))
    monkeypatch.setattr(ac, "lt_zero", bad_result(lt, "lt result"))
    monkeypatch.setattr(ad.AuthenticatedDealer, "eda_bits", bad_eda)
    monkeypatch.setattr(ad.AuthenticatedDealer, "dabits", bad_dabits)
    monkeypatch.setattr(ad.AuthenticatedDealer, "input_mask", bad_mask)
    rng = random.Random(where)
    wrong = 0
    for attacker in (programs.MODEL_OWNER, programs.DATA_OWNER):
        for bit in (0, 5, 16, 31, 40, 62, 63, rng.randrange(64)):
            plan.update(attacker=attacker, bit=bit, index=rng.randrange(3))
            mpc_programs.TRIAL_OUTPUTS.clear()
            try:
                results, _ = mpc.run_in_process(mpc_programs.cheating_trial, authenticated=True, secure=False,
                                                timeout=30, private_inputs={0: {"x": X}, 1: {"y": Y}})
            except CheatingDetectedError:
                continue
            wrong += not (torch.equal(results[0], (X < Y).long())
                          and torch.allclose(results[1], torch.clamp(X * Y, min=0), atol=1e-4))
    assert wrong == 0      # never a wrong output; a run that finished was unaffected (an unused bit)


def _equivocating(ctx, x=None, y=None, where=None):
    """Three computing parties; party 0 sends party 2 something other than what it sends party 1, once."""
    if ctx.rank == 0 and where:
        comm, seen, honest = ctx.comm, {}, ctx.comm.exchange

        def exchange(tensor, label="exchange"):
            seen[label] = seen.get(label, 0) + 1
            if label != where or seen[label] != 1:
                return honest(tensor, label)
            other = tensor.clone()
            other.view(torch.uint8)[0] ^= 1                         # bit 0 of the first word (or byte)
            comm.send(1, tensor.contiguous())
            comm.send(2, other.contiguous())
            return [tensor] + [comm.recv(r, tensor) for r in (1, 2)]
        comm.exchange = exchange
    X3 = SecretTensor.from_owner(ctx, x, 0, shape=(3,))
    Y3 = SecretTensor.from_owner(ctx, y, 1, shape=(3,))
    return (X3 * Y3).relu().reveal()


@pytest.mark.parametrize("where", ["input", "mul", "truncate", "compare mask", "compare", "relu", "reveal",
                                   "coin reveal", "MAC check reveal"])
def test_a_party_that_tells_two_parties_different_things_is_detected(where):
    with pytest.raises(CheatingDetectedError):
        mpc.run_in_process(_equivocating, parties=3, authenticated=True, secure=False, timeout=30, where=where,
                           private_inputs={0: {"x": X}, 1: {"y": Y}})


def test_a_party_that_echoes_the_other_partys_commitment_is_refused():
    """Party 0 waits for party 1's coin commitment and reveal and sends them back as its own: refused, since a
    commitment names its author (otherwise the cheater could choose between two sets of coefficients)."""
    def program(ctx, x=None):
        if ctx.rank == 0:
            comm, honest = ctx.comm, ctx.comm.exchange

            def echo(tensor, label="exchange"):
                if label not in ("coin commit", "coin reveal"):
                    return honest(tensor, label)
                theirs = comm.recv(1, tensor)
                comm.send(1, theirs)
                return [theirs, theirs]
            comm.exchange = echo
        X1 = SecretTensor.from_owner(ctx, x, 0, shape=(3,))
        return (X1 * X1).reveal(to=1)
    with pytest.raises(CheatingDetectedError, match="party 0 opened a coin that differs from its commitment"):
        mpc.run_in_process(program, authenticated=True, secure=False, timeout=30, private_inputs={0: {"x": X}})


def test_across_processes_a_cheat_surfaces_as_cheating_detected():
    model, _, _, test_x, _ = digits.task()
    with pytest.raises(CheatingDetectedError, match="MAC check failed"):
        mpc.run_distributed(attacks.steer_relus, authenticated=True, timeout=60,
                            private_inputs={0: {"layers": programs.model_layers(model)}, 1: {"image": test_x[0].double()}})
