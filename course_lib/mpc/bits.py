"""Bit-level helpers on 64-bit words: bit planes, XOR of many, logical shift (chapters 07–08).

A leaf module: it imports nothing else from the MPC package, so the dealer, the comparison and
the shared tensors can all use it without pointing at each other.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_bit_planes", "from_bit_plane", "xor_all", "logical_shift"]


def to_bit_planes(words: torch.Tensor) -> torch.Tensor:
    """Transpose n 64-bit words into 64 bit planes: row j packs bit j of every word (⌈n/64⌉ words)."""
    flat = words.reshape(-1).contiguous().numpy()
    pad = (-flat.size) % 64
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=np.int64)])
    by_byte = np.ascontiguousarray(flat.view(np.uint8).reshape(-1, 8).T)          # (8, N): byte k of each word
    bits = np.unpackbits(by_byte, axis=1, bitorder="little").reshape(8, -1, 8)    # [k, word, bit of byte]
    planes = np.packbits(bits.transpose(0, 2, 1).reshape(64, -1), axis=1, bitorder="little")
    return torch.from_numpy(planes.view(np.int64))                                # row 8k+i = bit i of byte k


def from_bit_plane(plane: torch.Tensor, n: int) -> torch.Tensor:
    """The first n bits of a packed plane, as 0/1 int64 values."""
    return torch.from_numpy(np.unpackbits(plane.contiguous().numpy().view(np.uint8), bitorder="little")[:n]
                            .astype(np.int64))


def xor_all(tensors) -> torch.Tensor:
    """The XOR of several int64 tensors (0 for none)."""
    out = None
    for t in tensors:
        out = t.clone() if out is None else out ^ t
    return out if out is not None else torch.zeros((), dtype=torch.int64)


def logical_shift(values: torch.Tensor, bits: int) -> torch.Tensor:
    """values >> bits, reading int64 as unsigned 64-bit integers."""
    return (values >> bits) & ((1 << (64 - bits)) - 1)
