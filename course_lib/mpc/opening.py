"""Opening shared values: every party learns the value, in one round (chapters 07–08).

The layer between the communicator and the protocols: comparison and the shared tensors both
open values through here. A malicious party's own program may set ``ctx.tamper`` to change what
it sends (chapter 08), and ``ctx.view`` records what this party learns (chapter 08's attacks).
"""
from __future__ import annotations

from typing import Literal

import torch

from .errors import CheatingDetectedError

__all__ = ["open_values", "open_from_owner"]


def open_values(ctx, *tensors, label: str = "open", op: Literal["add", "xor"] = "add") -> list[torch.Tensor]:
    """Reveal several shared int64 tensors to every party in one round, one result per input.

    ``op="add"`` opens additive shares (their sum modulo 2^64); ``op="xor"`` opens XOR shares
    (chapter 07's comparison).
    """
    flat = torch.cat([t.reshape(-1) for t in tensors])
    if ctx.tamper is not None:
        flat = ctx.tamper(label, flat)
    total = ctx.comm.all_reduce(flat, op, label)
    if ctx.view is not None and not ctx.is_dealer:
        ctx.view.append((label, total.clone()))
    out, start = [], 0
    for t in tensors:
        out.append(total[start:start + t.numel()].reshape(t.shape))
        start += t.numel()
    return out


def open_from_owner(ctx, tensor: torch.Tensor, owner: int, label: str = "input") -> torch.Tensor:
    """Reveal a value that only party ``owner`` sends (one round): authenticated inputs (chapter 08).

    Every other party sends zeros; a party that sends anything else is refused by name, at every
    party that received it. This checks messages only: a party that shifts the value by editing its
    own share afterwards is left to the MAC check (``authentication``).
    """
    flat = tensor.reshape(-1)
    if ctx.tamper is not None:
        flat = ctx.tamper(label, flat)
    received = ctx.comm.exchange(flat, label)
    if ctx.is_dealer:
        return torch.zeros_like(tensor)
    for rank, part in enumerate(received):
        if rank != owner and bool(part.any()):
            raise CheatingDetectedError(f"party {rank} sent a non-zero contribution to party {owner}'s input: "
                                        "aborting before any output is revealed")
    value = received[owner].reshape(tensor.shape)
    if ctx.view is not None:
        ctx.view.append((label, value.clone()))
    return value
