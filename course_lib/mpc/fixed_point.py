"""Fixed-point encoding of real numbers as ring elements (chapter 07).

A real x is stored as the integer round(x · 2^f) in Z_2^64 (two's complement: negatives wrap
to the top half). With f = 16 fractional bits the resolution is 2^-16 ≈ 1.5·10^-5. Decoding
divides by 2^f in float64, which is exact for every |value| < 2^53, i.e. |x| < 2^37 — including
values just below negative integers, where a careless floor-based decode goes wrong.
"""
from __future__ import annotations

import torch


__all__ = ["FRAC_BITS", "encode", "decode"]

FRAC_BITS = 16


def encode(x, frac_bits: int = FRAC_BITS) -> torch.Tensor:
    """round(x · 2^frac_bits) as int64; raises ``OverflowError`` outside the representable range."""
    value = torch.as_tensor(x, dtype=torch.float64) * (1 << frac_bits)
    if value.numel() and value.abs().max().item() >= 2.0 ** 62:
        raise OverflowError(f"value too large for 64-bit fixed point with {frac_bits} fractional bits")
    return torch.round(value).to(torch.int64)


def decode(v: torch.Tensor, frac_bits: int = FRAC_BITS) -> torch.Tensor:
    """v / 2^frac_bits as float64 (exact for |v| < 2^53)."""
    return v.to(torch.float64) / (1 << frac_bits)
