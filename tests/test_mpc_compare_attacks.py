"""Attacks on chapter 08's SPDZ2k comparison, ReLU and MAC check, by a party that deviates.

Every test performs one attack and asserts detection (``CheatingDetectedError``, before any output
that depends on the change), or harmlessness (the run finishes with the honest outputs). The last
test shows the limitation the chapter states: a party that sees a public output can still abort.
"""
import random

import numpy as np
import pytest
import torch

from course_lib import mpc
from course_lib.mpc import SecretTensor
from course_lib.mpc.errors import CheatingDetectedError

X = torch.tensor([1.5, -2.0, 3.0], dtype=torch.float64)
Y = torch.tensor([-1.0, 2.5, 0.5], dtype=torch.float64)
ONE = np.uint64(1)


def _run(program, inputs=None, parties=2):
    """('detected', None) or ('finished', results)."""
    try:
        results, _ = mpc.run_in_process(program, parties=parties, authenticated=True, secure=False, timeout=30,
                                        private_inputs=inputs)
    except CheatingDetectedError:
        return "detected", None
    return "finished", results


def _trial(ctx, x, y, outputs):
    """(X·Y).relu() revealed to 1, X < Y revealed to 0; records every output received."""
    Xs = SecretTensor.from_owner(ctx, x, 0, shape=(3,))
    Ys = SecretTensor.from_owner(ctx, y, 1, shape=(3,))
    relu = (Xs * Ys).relu()
    less = Xs < Ys
    first = relu.reveal(to=1)
    if first is not None:
        outputs.append("relu")
    second = less.reveal(to=0)
    if second is not None:
        outputs.append("lt")
    return first if ctx.rank == 1 else second


def _honest(results):
    return torch.equal(results[0], (X < Y).long()) and torch.allclose(results[1], torch.clamp(X * Y, min=0), atol=1e-4)


def _words_add(flat, index, delta):
    """flat (int64 view of uint64 words) with delta added mod 2^64 at index."""
    w = flat.clone().numpy().view(np.uint64)
    with np.errstate(over="ignore"):
        w[index] = w[index] + np.uint64(delta % 2**64)
    return torch.from_numpy(w.view(np.int64).copy())


# ============================================================================ the shared opening e = P - a
def _cheat_tree(attacker, occurrence, edits, fix_pending=False):
    """A program where ``attacker`` adds deltas at word indices of the occurrence-th 'compare' message.

    With fix_pending, the cheater afterwards restores the true values in its *own* record of the opening, so that
    its MAC-check share z is computed as if nothing had changed (the honest party's is not)."""
    outputs = []

    def program(ctx, x=None, y=None):
        if ctx.rank == attacker:
            seen, plan = {"n": 0}, {}

            def tamper(label, flat):
                if plan.get("todo") is not None:                       # the next message: fix own record
                    start, fixes = plan.pop("todo")
                    for idx, delta in fixes:
                        arr, off = _locate(ctx.pending.binary[start:], idx)
                        with np.errstate(over="ignore"):
                            arr.reshape(-1)[off] -= np.uint64(delta % 2**64)
                if label == "compare":
                    seen["n"] += 1
                    if seen["n"] == occurrence:
                        for idx, delta in edits:
                            flat = _words_add(flat, idx, delta)
                        if fix_pending:
                            plan["todo"] = (len(ctx.pending.binary), edits)
                return flat
            ctx.tamper = tamper
        return _trial(ctx, x, y, outputs)
    return program, outputs


def _locate(entries, idx):
    for value, _ in entries:
        if idx < value.size:
            return value, idx
        idx -= value.size
    raise IndexError(idx)


@pytest.mark.parametrize("attacker", [0, 1])
def test_shared_e_changed_together_with_both_fs_is_detected(attacker):
    """Bit 0 of a shared e and of both f's of the same node changed at once (a try to make the errors cancel in
    G = hi_g + P*lo_g and P*lo_p): 30 runs, every one detected before any output."""
    rng = random.Random(attacker)
    for _ in range(30):
        occurrence = rng.choice([1, 2, 3, 4, 6, 7, 8, 9])       # levels of width 32, 16, 8, 4 (both comparisons)
        pairs = (32, 16, 8, 4)[(occurrence - 1) % 5] // 2 - 1    # nodes with two products, per element
        k = rng.randrange(3 * pairs)
        e_index = 3 + k                                        # group 1's 3 e's, then group 2's
        f1 = 3 + 3 * pairs + 3 + k                             # then group 1's f, group 2's G-f's, P-f's
        f2 = 3 + 3 * pairs + 3 + 3 * pairs + k
        program, outputs = _cheat_tree(attacker, occurrence, [(e_index, 1), (f1, 1), (f2, 1)])
        status, _ = _run(program, {0: {"x": X}, 1: {"y": Y}})
        assert status == "detected" and not outputs


@pytest.mark.parametrize("attacker", [0, 1])
def test_shared_e_error_with_cheater_checking_the_true_value_is_detected(attacker):
    """The cheater changes e (bit 0) and then computes its MAC-check share z on the *unchanged* e, so its own
    part of the error vanishes; the honest party's beta_i*chi*delta remains: 40 runs, all detected."""
    rng = random.Random(10 + attacker)
    for _ in range(40):
        occurrence = rng.choice([1, 2, 3, 6, 7, 8])
        program, outputs = _cheat_tree(attacker, occurrence, [(rng.randrange(3), 1)], fix_pending=True)
        status, _ = _run(program, {0: {"x": X}, 1: {"y": Y}})
        assert status == "detected" and not outputs


@pytest.mark.parametrize("bit", [1, 32, 62, 63])
def test_upper_bits_of_a_shared_e_are_detected_or_harmless(bit):
    """2^bit added to a shared e (bits 1..63 carry nothing in Z_2^(1+63)): each run is caught or returns the
    honest outputs; never a wrong output."""
    for attacker in (0, 1):
        for occurrence in (1, 4, 7):
            program, outputs = _cheat_tree(attacker, occurrence, [(0, 1 << bit)])
            status, results = _run(program, {0: {"x": X}, 1: {"y": Y}})
            assert (status == "detected" and not outputs) or _honest(results)


# ============================================================================ pair products of the edaBit
def _with_bad_eda(monkeypatch, attacker, edit):
    from course_lib.mpc import authenticated_dealer as ad
    original = ad.AuthenticatedDealer.eda_bits

    def bad(self, n):
        (r, mr), (bits, mb), (pairs, mp) = original(self, n)
        if self.ctx.rank == attacker and not self.ctx.is_dealer:
            bits, mb, pairs, mp = edit(bits.copy(), mb.copy(), pairs.copy(), mp.copy())
        return (r, mr), (bits, mb), (pairs, mp)
    monkeypatch.setattr(ad.AuthenticatedDealer, "eda_bits", bad)


@pytest.mark.parametrize("attacker", [0, 1])
def test_wrong_q_everywhere_is_detected(attacker, monkeypatch):
    """The cheater uses q + 1 for every pair product (and random MAC shares for them): 20 runs, all detected."""
    rng = np.random.default_rng(attacker)

    def edit(bits, mb, pairs, mp):
        return bits, mb, pairs + ONE, rng.integers(0, 2**63, mp.shape).astype(np.uint64)
    _with_bad_eda(monkeypatch, attacker, edit)
    for _ in range(20):
        outputs = []
        status, _ = _run(lambda ctx, x=None, y=None: _trial(ctx, x, y, outputs), {0: {"x": X}, 1: {"y": Y}})
        assert status == "detected" and not outputs


def _q0_detection_rate(monkeypatch, attacker, x, runs=40):
    """q of pair 0 of element 0 flipped: its only effect is on G of node 0, with coefficient NOT c_0 (public)."""
    def edit(bits, mb, pairs, mp):
        pairs[0, 0] ^= ONE
        return bits, mb, pairs, mp
    _with_bad_eda(monkeypatch, attacker, edit)
    detected, wrong = 0, 0

    def program(ctx, x=None):
        Xs = SecretTensor.from_owner(ctx, x, 0, shape=(4,))
        return Xs.lt_zero().reveal(to=0)
    for _ in range(runs):
        status, results = _run(program, {0: {"x": x}})
        if status == "detected":
            detected += 1
        else:
            wrong += not torch.equal(results[0], (x < 0).long())
    monkeypatch.undo()
    return detected / runs, wrong


@pytest.mark.parametrize("attacker", [0, 1])
def test_selective_failure_of_a_wrong_q_does_not_depend_on_the_sign(attacker, monkeypatch):
    """Selective failure: whether the wrong q is caught depends on c_0 = x_0 XOR r_0 only (uniform): ~1/2 for all
    positive and for all negative inputs alike, and a run that finishes has the right output."""
    pos, wrong_pos = _q0_detection_rate(monkeypatch, attacker, torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    neg, wrong_neg = _q0_detection_rate(monkeypatch, attacker, -torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    assert wrong_pos == 0 and wrong_neg == 0
    assert 0.15 < pos < 0.85 and 0.15 < neg < 0.85


@pytest.mark.parametrize("attacker", [0, 1])
def test_upper_bits_of_own_bit_shares_never_change_an_output(attacker, monkeypatch):
    """2^j (j = 1..63) added to the cheater's shares of every edaBit bit and pair product (MACs untouched):
    caught or harmless, never a wrong output."""
    for j in (1, 17, 40, 62, 63):
        def edit(bits, mb, pairs, mp, j=j):
            with np.errstate(over="ignore"):
                return bits + (ONE << np.uint64(j)), mb, pairs + (ONE << np.uint64(j)), mp
        _with_bad_eda(monkeypatch, attacker, edit)
        outputs = []
        status, results = _run(lambda ctx, x=None, y=None: _trial(ctx, x, y, outputs), {0: {"x": X}, 1: {"y": Y}})
        assert (status == "detected" and not outputs) or _honest(results)
        monkeypatch.undo()


# ============================================================================ the arithmetic mask c = x + r (+ 2^64 t)
def _cheat_label(attacker, label, delta_fn, occurrence=1):
    outputs = []

    def program(ctx, x=None, y=None):
        if ctx.rank == attacker:
            seen = {"n": 0}

            def tamper(lab, flat):
                if lab == label:
                    seen["n"] += 1
                    if seen["n"] == occurrence:
                        flat = delta_fn(flat)
                return flat
            ctx.tamper = tamper
        return _trial(ctx, x, y, outputs)
    return program, outputs


@pytest.mark.parametrize("attacker", [0, 1])
def test_compare_mask_low_errors_detected_high_errors_harmless(attacker):
    for bit in (0, 31, 63):
        for occurrence in (1, 2):
            program, outputs = _cheat_label(attacker, "compare mask", lambda f: _words_add(f, 1, 1 << bit), occurrence)
            assert _run(program, {0: {"x": X}, 1: {"y": Y}})[0] == "detected" and not outputs
    for bit in (0, 63):        # the high limb (words 3..5 of a 3-element opening)
        program, outputs = _cheat_label(attacker, "compare mask", lambda f: _words_add(f, 4, 1 << bit))
        status, results = _run(program, {0: {"x": X}, 1: {"y": Y}})
        assert (status == "detected" and not outputs) or _honest(results)


def _view(x):
    def program(ctx, x=None):
        Xs = SecretTensor.from_owner(ctx, x, 0, shape=(256,))
        Xs.relu().reveal(to=0)
        return ctx.view
    results, _ = mpc.run_in_process(program, authenticated=True, secure=False, timeout=30, record_view=True,
                                    private_inputs={0: {"x": x}})
    return results[1]                                       # the data owner's (semi-honest) view


def test_opened_values_of_compare_are_masked_in_every_bit():
    """Semi-honest view of party 1 with x = 0 vs x = -1: every bit of the opened c = x + r (both limbs), of every
    tree opening (64-bit words) and of the ReLU opening is balanced (no carry or constant shows)."""
    for x in (torch.zeros(256, dtype=torch.float64), -torch.ones(256, dtype=torch.float64)):
        view = _view(x)
        for label, values in view:
            if label in ("input", "reveal"):
                continue
            for v in values:
                words = [v.lo, v.hi] if hasattr(v, "lo") else [v]
                for w in words:
                    w = w.reshape(-1)
                    if w.size < 200:
                        continue
                    bits = (w[:, None] >> np.arange(64, dtype=np.uint64)) & ONE
                    means = bits.mean(axis=0)
                    assert means.min() > 0.3 and means.max() < 0.7, (label, means.min(), means.max())


# ============================================================================ the bit conversion and ReLU openings
@pytest.mark.parametrize("label", ["bit conversion", "relu"])
def test_upper_bits_of_a_bit_opening_are_detected_or_harmless_and_data_independent(label):
    """2^63 added to the first opened bit word of ReLU's / the bit conversion's opening: never a wrong output
    (the bit is word mod 2), and caught about a quarter of the time for X and for -X alike: the check sees
    χ·β·2^63 mod 2^64, non-zero exactly when the coefficient χ and the key β are both odd — never the data.
    Bounds for 40 runs at p = 1/4: at least one and at most 23 detections, each missed with probability < 10⁻⁵."""
    rates = []
    for sign in (1, -1):
        detected = 0
        for _ in range(40):
            start = 6 if label == "relu" else 0              # ReLU's message: 3 low limbs, 3 high limbs, 3 bits
            program, outputs = _cheat_label(1, label, lambda f: _words_add(f, start, 1 << 63))
            xs = sign * X
            status, results = _run(program, {0: {"x": xs}, 1: {"y": Y}})
            if status == "detected":
                detected += 1
                assert not outputs
            else:
                assert torch.equal(results[0], (xs < Y).long())
                assert torch.allclose(results[1], torch.clamp(xs * Y, min=0), atol=1e-4)
        rates.append(detected / 40)
    assert all(0 < r < 0.6 for r in rates), rates


# ============================================================================ the MAC check itself
def _replay(what):
    """The cheater (party 0) sends, in the 2nd check, the commitment and opening it sent in the 1st one."""
    outputs = []

    def program(ctx, x=None, y=None):
        if ctx.rank == 0:
            comm, honest, sent = ctx.comm, ctx.comm.exchange, {}

            def exchange(tensor, label="exchange"):
                if label in (f"{what} commit", f"{what} reveal"):
                    k = sent.setdefault(label, [])
                    k.append(tensor.clone())
                    if len(k) == 2:
                        tensor = k[0]
                return honest(tensor, label)
            comm.exchange = exchange
        return _trial(ctx, x, y, outputs)
    return program, outputs


@pytest.mark.parametrize("what", ["coin", "MAC check"])
def test_replaying_an_earlier_commitment_is_refused(what):
    program, outputs = _replay(what)
    status, _ = _run(program, {0: {"x": X}, 1: {"y": Y}})
    assert status == "detected" and not outputs


@pytest.mark.parametrize("which", [1, 2, 3, 4])
def test_a_rushing_party_revealing_another_coin_than_it_committed_to_is_refused(which):
    """Party 1 waits for party 0's reveal of the ``which``-th check's coin seed, then opens another seed than
    it committed to: refused. The first check commits to its coin itself; each later check's coin was
    committed to inside the previous check's MAC commitment."""
    outputs, seen = [], {"coin reveal": 0}

    def program(ctx, x=None, y=None):
        if ctx.rank == 1:
            comm, honest = ctx.comm, ctx.comm.exchange

            def exchange(tensor, label="exchange"):
                if label == "coin reveal":
                    seen[label] += 1
                    if seen[label] == which:
                        theirs = comm.recv(0, tensor)
                        mine = tensor.clone()
                        mine[0] ^= 1
                        comm.send(0, mine)
                        return [theirs, mine]
                return honest(tensor, label)
            comm.exchange = exchange
        return _trial(ctx, x, y, outputs)
    with pytest.raises(CheatingDetectedError, match="party 1 opened a coin that differs from its commitment"):
        mpc.run_in_process(program, authenticated=True, secure=False, timeout=30,
                           private_inputs={0: {"x": X}, 1: {"y": Y}})
    assert outputs == ["relu"][:max(0, (which - 1) // 2)]      # only outputs whose checks had passed


def test_every_check_after_the_first_reveals_a_coin_committed_before_its_openings():
    """The order of a check's messages: the first commits to its coin, then reveals it; every later one only
    reveals, since its coin was committed to in the previous check's MAC commitment (two hashes)."""
    labels = []

    def program(ctx, x=None, y=None):
        if ctx.rank == 0:
            honest = ctx.comm.exchange

            def exchange(tensor, label="exchange"):
                if "coin" in label or "MAC check" in label:
                    labels.append((label, tensor.numel()))
                return honest(tensor, label)
            ctx.comm.exchange = exchange
        return _trial(ctx, x, y, [])
    status, _ = _run(program, {0: {"x": X}, 1: {"y": Y}})
    assert status == "finished"
    first = [("coin commit", 32), ("coin reveal", 48), ("MAC check commit", 64), ("MAC check reveal", 40)]
    later = [("coin reveal", 48), ("MAC check commit", 64), ("MAC check reveal", 40)]
    assert labels == first + later * 3                       # 2 outputs, each checked before and after


# ============================================================================ not covered: aborts; exactness at every size
def test_a_party_that_sees_a_public_output_can_still_abort_the_run():
    """The stated limitation (aborts are not covered): in reveal() to everyone, the rushing cheater reads the
    honest share of x + 2^64 t, learns x, then corrupts the final MAC check; the honest party gets only an abort."""
    learned = {}

    def program(ctx, x=None):
        if ctx.rank == 1:
            comm, honest = ctx.comm, ctx.comm.exchange

            def exchange(tensor, label="exchange"):
                if label == "reveal":
                    theirs = comm.recv(0, tensor)
                    w = theirs.numpy().view(np.uint64) + tensor.numpy().view(np.uint64)
                    learned["x"] = torch.from_numpy(w[:3].view(np.int64).copy()).double() / 2**16
                    comm.send(0, tensor)
                    return [theirs, tensor]
                if label == "MAC check reveal" and "x" in learned:
                    tensor = tensor.clone()
                    tensor[0] ^= 1                              # commitment mismatch: the run aborts
                return honest(tensor, label)
            comm.exchange = exchange
        return SecretTensor.from_owner(ctx, x, 0, shape=(3,)).reveal()
    status, _ = _run(program, {0: {"x": X}})
    assert status == "detected" and torch.equal(learned["x"], X)


def _large_values_program(ctx, x=None):
    Xs = SecretTensor.from_owner(ctx, x, 0, shape=(128,), frac_bits=0)
    return Xs.lt_zero().reveal(), Xs.relu().reveal()


LARGE = torch.tensor([3 * 2**61, -3 * 2**61, 2**63 - 1, -2**63, 0, 1, -1, 5] * 16, dtype=torch.int64)


def test_the_comparison_and_relu_are_exact_for_large_values():
    """Sign and ReLU of ring elements up to ±2^63."""
    status, results = _run(_large_values_program, {0: {"x": LARGE}})
    assert status == "finished"
    assert torch.equal(results[0][0], (LARGE < 0).long()) and torch.equal(results[0][1], torch.clamp(LARGE, min=0))


@pytest.mark.parametrize("attacker", [0, 1])
def test_flipping_ones_own_share_of_the_edabits_top_bit_is_detected(attacker, monkeypatch):
    """r_63 decides the sign: the cheater's flipped share of it changes the sign bit: always caught."""
    def edit(bits, mb, pairs, mp):
        bits[:, 63] ^= ONE
        return bits, mb, pairs, mp
    _with_bad_eda(monkeypatch, attacker, edit)
    for _ in range(10):
        outputs = []
        status, _ = _run(lambda ctx, x=None, y=None: _trial(ctx, x, y, outputs), {0: {"x": X}, 1: {"y": Y}})
        assert status == "detected" and not outputs
