"""Exercise checks for chapter 08 (private inference and training)."""
import torch

from ..mpc import SecretTensor, run_in_process
from ._framework import exercise


__all__ = ["secure_max", "secure_mean"]


@exercise(hint=['max(x, y) = y + something that is zero when y is larger.',
                "The course's SecretTensor has a secure ReLU: ReLU(v) is v when v > 0 and 0 otherwise. Nothing but the result may be revealed."],
          task='secure_max(ctx, x: SecretTensor, y: SecretTensor) -> SecretTensor of the element-wise maximum, revealing nothing (reread chapter 07, section 6).')
def secure_max(fn, t, rng):

    def program(ctx, x=None, y=None, shape=None):
        X = SecretTensor.from_owner(ctx, x, 0, shape=shape)
        Y = SecretTensor.from_owner(ctx, y, 1, shape=shape)
        return fn(ctx, X, Y).reveal()

    cases = [torch.tensor([1.0, -2.0, 0.0, 5.5, -1 - 2**-16], dtype=torch.float64),
             torch.tensor([2.0, -3.0, 0.0, -100.0, -1.0], dtype=torch.float64)]
    for k in range(6):
        if k == 0:
            x, y = cases
        else:
            gen = torch.Generator().manual_seed(rng.randrange(10_000))
            x = torch.randn(8, generator=gen, dtype=torch.float64) * 1000
            y = torch.randn(8, generator=gen, dtype=torch.float64) * 1000
        results, stats = run_in_process(program, shape=x.shape, private_inputs={0: {"x": x}, 1: {"y": y}}, timeout=30)
        t.true(stats[0].by_label.get("reveal", [0])[0] == 1,
               "secure_max must reveal nothing: the only opening is the caller's final reveal of the maximum")
        grid = lambda v: torch.round(v * 2**16) / 2**16  # noqa: E731
        t.true(torch.equal(results[0], torch.maximum(grid(x), grid(y))),
               f"max of {x.tolist()} and {y.tolist()} gave {results[0].tolist()}", kind="known" if k == 0 else "random")


@exercise(hint=['Share, add, reveal once: which single value do you need to reveal?',
                'Each party owns one input: every party must call SecretTensor.from_owner once per owner (with owner=i, and the shape for those that do not own it). Reveal one value only, then divide in the clear.'],
          task="secure_mean(ctx, value: tensor) -> float, the mean of all parties' values, revealed to everyone, nothing else revealed (reread chapter 07, section 2).")
def secure_mean(fn, t, rng):
    for parties in (2, 3, 4, 3):
        values = [round(rng.uniform(-1000, 1000), 3) for _ in range(parties)]
        results, stats = run_in_process(lambda ctx, value=None: fn(ctx, value), parties=parties, timeout=30,
                                        private_inputs={i: {"value": torch.tensor(v, dtype=torch.float64)}
                                                     for i, v in enumerate(values)})
        expected = sum(values) / parties
        got = [float(r) for r in results]
        t.true(all(abs(g - expected) < 1e-3 for g in got),
               f"{parties} parties with {values}: every party should get the mean {expected:.4f}, got {got}",
               kind="random")
        t.true(max(s.rounds for s in stats) == 1, "a mean needs exactly one round (the final reveal)")
        t.true(max(s.bytes_sent for s in stats) <= 8 * (parties - 1),
               "open only the sum: each party sends one 8-byte share to each other party, never every input")
