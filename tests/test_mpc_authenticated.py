"""SPDZ-style MACs (chapter 08): authenticated mode computes the same values and catches a party that cheats."""
import torch
import pytest
from hypothesis import given, settings, strategies as st

from course_lib import digits, mpc
from course_lib.mpc import SecretTensor, attacks, programs
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
def test_tampering_with_any_opened_value_is_detected(label, offset):
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
