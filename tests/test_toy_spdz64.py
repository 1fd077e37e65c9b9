"""The toy MACs of course_lib.toy.spdz64 (chapter 08): INSECURE on purpose, and these tests show exactly how —
a top-bit error escapes at the derived rate (3 in 4), and flipped comparison bits are not noticed at all."""
import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from course_lib import digits, mpc
from course_lib.mpc import SecretTensor, attacks, programs
from course_lib.mpc.errors import CheatingDetectedError
from course_lib.toy import spdz64

TOY = spdz64.SCHEME


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


def _contains(rate, caught, trials, confidence=0.9999):
    interval = scipy_stats.binomtest(caught, trials).proportion_ci(confidence_level=confidence)
    return interval.low <= rate <= interval.high, (caught, trials, interval)


def test_the_toy_computes_and_catches_low_bit_errors():
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    honest, _ = mpc.run_in_process(_cheat_on("nothing", 0), authenticated=TOY, private_inputs={0: {"x": x}})
    assert torch.allclose(honest[0], x * x, atol=1e-4)
    with pytest.raises(CheatingDetectedError, match="MAC check failed"):
        mpc.run_in_process(_cheat_on("mul", 1), authenticated=TOY, private_inputs={0: {"x": x}}, timeout=30)


@pytest.mark.parametrize("v", [63, 62, 61, 60, 56])
def test_the_toy_checks_escape_rate_is_the_derived_one(v):
    """Simulate the check's equation: δ = 2^v·odd escapes when α·r·δ ≡ 0 mod 2^64, at (m + 2)/2^(m+1), m = 64 − v."""
    rng = np.random.default_rng(v)
    trials = 200_000
    alpha, r = (rng.integers(0, 2**64, trials, dtype=np.uint64, endpoint=False) for _ in range(2))
    delta = np.uint64((2**v * int(rng.integers(1, 2**20) * 2 + 1)) % 2**64)
    escaped = int(np.count_nonzero(alpha * r * delta == 0))        # uint64 arithmetic wraps: the ring Z_2^64
    ok, detail = _contains(spdz64.escape_probability(2**v), escaped, trials)
    assert ok, detail
    assert spdz64.escape_probability(2**63) == 0.75 and spdz64.escape_probability(1) < 2**-58


def test_a_top_bit_error_is_caught_only_a_quarter_of_the_time_by_the_toy():
    """The real toy protocol, many runs: party 1 adds 2^63 to an opened Beaver value; its MAC check catches it
    only when the coefficient r and the key α are both odd (1/4), so 3 runs in 4 finish with a wrong result."""
    x = torch.tensor([1.5, -2.0, 3.0, 0.25], dtype=torch.float64)
    trials, caught = 96, 0
    for _ in range(trials):
        try:
            mpc.run_in_process(_cheat_on("mul", -2**63), authenticated=TOY, secure=False,
                               private_inputs={0: {"x": x}}, timeout=30)
        except CheatingDetectedError:
            caught += 1
    ok, detail = _contains(1 - spdz64.escape_probability(2**63), caught, trials)
    assert ok, detail


def test_the_toy_does_not_detect_relu_flips_that_leak_the_second_layer():
    """A malicious data owner flips one ReLU bit per row and reads every row of W₂ up to a positive factor."""
    model, _, _, test_x, _ = digits.task()
    layers = programs.model_layers(model)
    results, _ = mpc.run_in_process(attacks.steer_relus, authenticated=TOY, timeout=30,
                                    private_inputs={0: {"layers": layers}, 1: {"image": test_x[0].double()}})
    stolen = attacks.second_layer_from_logits(results[1])                      # −|h_j| · (row j of W₂ᵀ)
    cosine = torch.nn.functional.cosine_similarity(stolen, layers[1][0].t(), dim=1)
    assert cosine.max().item() < -0.9999
    assert results[0] is None


def test_the_toy_does_not_detect_a_model_owner_flipping_every_relu():
    model, _, _, test_x, _ = digits.task()
    results, _ = mpc.run_in_process(attacks.sabotage_relus, authenticated=TOY, timeout=30,
                                    private_inputs={0: {"layers": programs.model_layers(model)},
                                                    1: {"images": test_x[:100].double()}})
    agreement = (results[1].argmax(1) == model(test_x[:100]).argmax(1)).float().mean().item()
    assert agreement < 0.8                                                       # 0.47 on these 100 images
