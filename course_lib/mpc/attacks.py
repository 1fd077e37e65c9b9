"""What a curious party can do with what it legitimately sees (chapter 08).

Each function here is an attack the course performs against its own protocols, to show why a
rule exists. They read a party's *view* — the values it saw opened (``record_view=True``).
"""
from __future__ import annotations

import torch

from .fixed_point import FRAC_BITS, decode
from .prg import PRG, public_seed

__all__ = ["recover_inputs_from_public_seed"]


def recover_inputs_from_public_seed(view, seed, shape, frac_bits: int = FRAC_BITS) -> torch.Tensor:
    """The data owner's first input, recovered by the model owner when all seeds come from a public ``seed``.

    In the first Beaver matrix product every party sees ``e = x − a`` opened. The mask ``a`` is
    the sum of the parties' shares drawn from their dealer PRGs — which, with a public seed,
    the model owner can recompute for everyone: x = e + a. With fresh seeds, ``a`` is unknown
    and the result is noise.
    """
    label, opened = view[0]
    count = int(torch.tensor(shape).prod())
    e = opened[:count].reshape(shape)
    a = sum(PRG(public_seed(seed, f"dealer {party}")).ring(shape) for party in range(2))
    return decode(e + a, frac_bits)
