"""SPDZ-style MACs (chapter 08): authenticated mode computes the same values, detects a changed arithmetic
opening at the rate the derivation gives, and — a known gap, asserted here — does not check comparisons."""
import numpy as np
import torch
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats as scipy_stats

from course_lib import digits, mpc
from course_lib.mpc import SecretTensor, attacks, authentication, programs
from course_lib.mpc.errors import CheatingDetectedError

from . import mpc_programs


def _grid(x):
    return torch.round(x * 2**16) / 2**16


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


def test_authenticated_private_inference_keeps_the_plaintext_accuracy():
    model, _, _, test_x, test_y = digits.task()
    inputs = {0: {"layers": programs.model_layers(model)}, 1: {"images": test_x[:200].double()}}
    results, _ = mpc.run_in_process(programs.private_inference, batch=100, n_samples=200, authenticated=True,
                                    private_inputs=inputs)
    assert torch.equal(results[1]["logits"].argmax(1), model(test_x[:200]).argmax(1))
    assert results[0]["logits"] is None


def test_the_weight_extraction_attack_is_detected_before_any_output():
    model, _, _, test_x, _ = digits.task()
    inputs = {0: {"layers": programs.model_layers(model)}, 1: {"image": test_x[0].double()}}
    with pytest.raises(CheatingDetectedError, match="before any output is revealed"):
        mpc.run_in_process(attacks.extract_second_layer, authenticated=True, private_inputs=inputs, timeout=30)


def _cheat_on(label_to_tamper, offset):
    def program(ctx, x=None):
        if ctx.rank == 1:
            def tamper(label, flat):
                if label == label_to_tamper:
                    flat = flat.clone()
                    flat[0] += offset
                return flat
            ctx.tamper = tamper
        X = SecretTensor.from_owner(ctx, x, 0, shape=(4,))
        return (X * X).reveal(to=0)
    return program


@pytest.mark.parametrize("label,offset", [("mul", 1), ("truncate", 2**20), ("reveal", 5), ("mul", 2**40 + 3)])
def test_tampering_with_an_arithmetic_opening_is_detected(label, offset):
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    honest, _ = mpc.run_in_process(_cheat_on("nothing", 0), authenticated=True, private_inputs={0: {"x": x}})
    assert torch.allclose(honest[0], x * x, atol=1e-4)
    with pytest.raises(CheatingDetectedError, match="MAC check failed"):
        mpc.run_in_process(_cheat_on(label, offset), authenticated=True, private_inputs={0: {"x": x}}, timeout=30)


def test_the_semi_honest_protocol_does_not_notice_the_same_cheat():
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    cheated, _ = mpc.run_in_process(_cheat_on("mul", 2**16), private_inputs={0: {"x": x}})
    assert not torch.allclose(cheated[0], x * x, atol=1e-4)      # a wrong result, and no error


def test_authenticated_mode_across_processes():
    x = torch.tensor([[1.5, -2.25, 0.0, -1.0]] * 4, dtype=torch.float64)
    results, _ = mpc.run_distributed(mpc_programs.mixed_operations, shape=(4, 4), authenticated=True, timeout=60,
                                     private_inputs={0: {"x": x}, 1: {"y": x.t().contiguous()}})
    assert torch.equal(results[0]["revealed"]["relu"], torch.clamp(x, min=0))


def test_a_party_that_shifts_another_partys_input_is_refused():
    """Only the owner's message makes an authenticated input: party 1 adding to party 0's x is refused by name."""
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    with pytest.raises(CheatingDetectedError, match="party 1 sent a non-zero contribution to party 0's input"):
        mpc.run_in_process(_cheat_on("input", 2**20), authenticated=True, private_inputs={0: {"x": x}}, timeout=30)


def _contains(rate, caught, trials, confidence=0.9999):
    interval = scipy_stats.binomtest(caught, trials).proportion_ci(confidence_level=confidence)
    return interval.low <= rate <= interval.high, (caught, trials, interval)


@pytest.mark.parametrize("v", [63, 62, 61, 60, 56])
def test_the_mac_checks_escape_rate_is_the_derived_one(v):
    """Simulate the check's equation: δ = 2^v·odd escapes when α·r·δ ≡ 0 mod 2^64, at (m + 2)/2^(m+1), m = 64 − v."""
    rng = np.random.default_rng(v)
    trials = 200_000
    alpha, r = (rng.integers(0, 2**64, trials, dtype=np.uint64, endpoint=False) for _ in range(2))
    delta = np.uint64((2**v * int(rng.integers(1, 2**20) * 2 + 1)) % 2**64)
    escaped = int(np.count_nonzero(alpha * r * delta == 0))        # uint64 arithmetic wraps: the ring Z_2^64
    ok, detail = _contains(authentication.escape_probability(2**v), escaped, trials)
    assert ok, detail
    assert authentication.escape_probability(2**63) == 0.75 and authentication.escape_probability(1) < 2**-58


def test_a_top_bit_error_is_caught_about_a_quarter_of_the_time_by_the_real_check():
    """The real protocol, many runs: party 1 adds 2^63 to an opened Beaver value; the MAC check catches it
    only when the coefficient r and the key α are both odd (1/4), so 3 runs in 4 finish with a wrong result."""
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    trials, caught = 96, 0
    for _ in range(trials):
        try:
            mpc.run_in_process(_cheat_on("mul", -2**63), authenticated=True, private_inputs={0: {"x": x}}, timeout=30)
        except CheatingDetectedError:
            caught += 1
    ok, detail = _contains(1 - authentication.escape_probability(2**63), caught, trials)
    assert ok, detail


def _shift_party_0s_input_locally(delta):
    """Party 1 adds delta to its own share of party 0's authenticated input, keeping its MAC share: no message."""
    def program(ctx, x=None):
        s = SecretTensor.from_owner(ctx, x, 0, shape=(4,))
        if ctx.rank == 1:
            s = SecretTensor(ctx, s.share + torch.tensor(delta, dtype=torch.int64), s.frac_bits, s.mac)
        return (s + 0.0).reveal()
    return program


def test_a_local_shift_of_another_partys_input_is_left_to_the_mac_check_and_its_rate():
    """No non-zero message is sent, so only the MAC check can catch the shift: an odd δ always (escape 2^−59),
    δ = 2^63 only when r and α are both odd (1/4); the runs that finish return the shifted input."""
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    for _ in range(4):
        with pytest.raises(CheatingDetectedError, match="MAC check failed"):
            mpc.run_in_process(_shift_party_0s_input_locally(1), authenticated=True, private_inputs={0: {"x": x}},
                               timeout=30)
    trials, caught, wrong = 64, 0, 0
    for _ in range(trials):
        try:
            results, _ = mpc.run_in_process(_shift_party_0s_input_locally(-2**63), authenticated=True,
                                            private_inputs={0: {"x": x}}, timeout=30)
            wrong += not torch.allclose(results[0], x)
        except CheatingDetectedError:
            caught += 1
    assert wrong == trials - caught                                  # every run that escaped returned a wrong value
    ok, detail = _contains(1 - authentication.escape_probability(2**63), caught, trials)
    assert ok, detail


def _relu_of_party_0s_input(ctx, x=None):
    X = SecretTensor.from_owner(ctx, x, 0, shape=(6,))
    return X.relu().reveal(to=0)


def test_authenticated_mode_does_not_yet_detect_a_flipped_comparison_bit():
    """KNOWN GAP: the comparison opens c = bit ⊕ r as XOR shares without a MAC, and the bit's MAC is
    computed from the public c. Party 1 flips every c: ReLU(x) becomes min(x, 0), and no check fails."""
    x = torch.tensor([1.5, -2.0, 3.0, -0.25, 7.0, -9.5], dtype=torch.float64)

    def program(ctx, x=None):
        attacks.flip_comparison_bits(ctx, attacker=1)
        return _relu_of_party_0s_input(ctx, x)

    honest, _ = mpc.run_in_process(_relu_of_party_0s_input, authenticated=True, private_inputs={0: {"x": x}})
    assert torch.equal(honest[0], torch.clamp(x, min=0))
    flipped, _ = mpc.run_in_process(program, authenticated=True, private_inputs={0: {"x": x}}, timeout=30)
    assert torch.equal(flipped[0], torch.clamp(x, max=0))                      # wrong, and no CheatingDetectedError


def test_authenticated_mode_does_not_yet_detect_relu_flips_that_leak_the_second_layer():
    """KNOWN GAP: a malicious data owner flips one ReLU bit per row and reads every row of W₂ up to a positive factor."""
    model, _, _, test_x, _ = digits.task()
    layers = programs.model_layers(model)
    results, _ = mpc.run_in_process(attacks.steer_relus, authenticated=True, timeout=30,
                                    private_inputs={0: {"layers": layers}, 1: {"image": test_x[0].double()}})
    stolen = attacks.second_layer_from_logits(results[1])                      # −|h_j| · (row j of W₂ᵀ)
    cosine = torch.nn.functional.cosine_similarity(stolen, layers[1][0].t(), dim=1)
    assert cosine.max().item() < -0.9999                                         # every row, pointing the other way
    assert results[0] is None


def test_authenticated_mode_does_not_yet_detect_a_model_owner_flipping_every_relu():
    """KNOWN GAP: the model owner flips every ReLU bit; the data owner gets wrong predictions and no error."""
    model, _, _, test_x, _ = digits.task()
    results, _ = mpc.run_in_process(attacks.sabotage_relus, authenticated=True, timeout=30,
                                    private_inputs={0: {"layers": programs.model_layers(model)},
                                                    1: {"images": test_x[:100].double()}})
    agreement = (results[1].argmax(1) == model(test_x[:100]).argmax(1)).float().mean().item()
    assert agreement < 0.8                                                       # 0.47 on these 100 images
