"""Additive secret sharing in Z_2^64, all shares at once (chapter 07, for teaching and tests).

``share(x, n)`` returns n int64 tensors that look uniformly random one by one and sum (with
wrap-around) to x; any n−1 of them are independent of x. The runtime protocols in
``tensor.py`` do the same from each party's point of view.
"""
from __future__ import annotations

import torch

from .prg import PRG


__all__ = ["share", "reconstruct"]


def share(secret: torch.Tensor, parties: int, prg: PRG | None = None) -> list[torch.Tensor]:
    """Split an int64 tensor into ``parties`` additive shares modulo 2^64."""
    if parties < 2:
        raise ValueError("secret sharing needs at least 2 parties")
    secret = torch.as_tensor(secret, dtype=torch.int64)
    prg = prg or PRG()
    shares = [prg.ring(secret.shape) for _ in range(parties - 1)]
    last = secret.clone()
    for s in shares:
        last -= s          # int64 arithmetic wraps around: this is arithmetic modulo 2^64
    return shares + [last]


def reconstruct(shares) -> torch.Tensor:
    """Sum of the shares modulo 2^64."""
    total = torch.zeros_like(shares[0])
    for s in shares:
        total += s
    return total
