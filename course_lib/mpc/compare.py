"""Exact secure comparison and ReLU for two parties (chapter 07).

x < 0 exactly when the top bit of x ∈ Z_2^64 is 1. The two parties' additive shares x0 and x1
are each *already* a binary (XOR) sharing of themselves — party 0 holds (x0, 0), party 1 holds
(0, x1) — so x = x0 + x1 is computed as a 64-bit addition on XOR-shared bits with a
parallel-prefix (carry-lookahead) adder: generate g = a AND b, propagate p = a XOR b, and
combine neighbouring groups (G, P) ∘ (G', P') = (G ⊕ P∧G', P∧P') in a tree of six levels
to get the carry into bit 63. Each level's AND gates run in one round (Beaver triples on
bits), so the sign bit costs 7 rounds, converting it to an arithmetic share 1 more;
ReLU folds that conversion and its one multiplication into a single round: 8 rounds, exact.

Nothing here carries a MAC: a party that flips what it opens flips the result unnoticed. The
authenticated mode (chapter 08) uses ``authenticated_compare`` instead, where every opening is checked.

These functions work on this party's raw int64 shares; :class:`~course_lib.mpc.tensor.SecretTensor`
calls them (``x < y``, ``x.relu()``), so this module never needs the tensor type.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .bits import from_bit_plane, to_bit_planes
from .errors import MPCError
from .opening import open_values

__all__ = ["and_gates", "sign_bit", "bit_to_arithmetic", "lt_zero", "relu"]


def and_gates(ctx, pairs, label="and"):
    """AND of XOR-shared words, bitwise, for several (x, y) pairs in a single round."""
    sizes = [x.numel() for x, _ in pairs]
    flat = ctx.dealer.binary_triple((sum(sizes),))  # one triple for every gate: one message from the dealer
    triples = [tuple(part.reshape(x.shape) for part in parts)
               for parts, (x, _) in zip(zip(*(t.split(sizes) for t in flat)), pairs)]
    masked = []
    for (x, y), (a, b, _) in zip(pairs, triples):
        masked += [x ^ a, y ^ b]
    opened = open_values(ctx, *masked, label=label, op="xor")
    out = []
    for k, (a, b, c) in enumerate(triples):
        e, f = opened[2 * k], opened[2 * k + 1]
        z = c ^ (e & b) ^ (f & a)
        if ctx.rank == 0:
            z = z ^ (e & f)
        out.append(z)
    return out


def sign_bit(ctx, share: torch.Tensor) -> torch.Tensor:
    """XOR share of the top bit of every element of x (1 when x < 0), packed 64 per word.

    ``share`` is this party's additive share of x.

    A parallel-prefix adder on x0 + x1.

    Bit-sliced: the 64 bit positions become 64 *planes*, each packing one bit of 64 elements per
    word, so only the AND gates the carry into bit 63 needs are computed: g = a ∧ b for bits
    0…62, then a binary tree of six levels combining (G, P) of neighbouring bit groups.
    """
    if ctx.parties != 2:
        raise MPCError("secure comparison is implemented for two computing parties")
    n = share.numel()
    words = -(-n // 64)
    zero = torch.zeros((64, words), dtype=torch.int64)
    own = zero if ctx.is_dealer else to_bit_planes(share)
    a = own if ctx.rank == 0 else zero          # XOR sharing of x0: party 0 holds x0, party 1 holds 0
    b = own if ctx.rank == 1 else zero          # XOR sharing of x1
    p = a ^ b
    (g,) = and_gates(ctx, [(a[:63], b[:63])], label="compare")
    identity_p = torch.full((1, words), -1 if ctx.rank == 0 else 0, dtype=torch.int64)  # public 1s
    G = torch.cat([g, torch.zeros((1, words), dtype=torch.int64)])      # leaf 63 is the identity (0, 1)
    P = torch.cat([p[:63], identity_p])
    while G.shape[0] > 1:
        lo_g, hi_g, lo_p, hi_p = G[0::2], G[1::2], P[0::2], P[1::2]
        if G.shape[0] > 2:
            t, P = and_gates(ctx, [(hi_p, lo_g), (hi_p, lo_p)], label="compare")
        else:                                   # the root's propagate bit is not needed
            (t,) = and_gates(ctx, [(hi_p, lo_g)], label="compare")
        G = hi_g ^ t
    return p[63] ^ G[0]                         # sum bit 63 = propagate ⊕ carry into bit 63 (packed)


def bit_to_arithmetic(ctx, plane: torch.Tensor, shape) -> torch.Tensor:
    """Convert XOR-shared bits (packed, 64 per word) to additive shares of 0/1 integers, shaped ``shape``; one round.

    With a random bit r from the dealer in both sharings: open c = bit ⊕ r (uniformly random, so
    it reveals nothing), then bit = c + r − 2cr is linear in the additive shares of r.
    """
    n = math.prod(shape)
    r_plane, r_arith = ctx.dealer.random_bit(plane.shape, n)
    (c_plane,) = open_values(ctx, plane ^ r_plane, label="bit conversion", op="xor")
    c = from_bit_plane(c_plane, n)
    share = r_arith - 2 * c * r_arith
    if ctx.rank == 0:
        share = share + c
    return share.reshape(shape)


def lt_zero(ctx, share: torch.Tensor) -> torch.Tensor:
    """Shares of [x < 0] as an integer 0/1 (8 rounds)."""
    return bit_to_arithmetic(ctx, sign_bit(ctx, share), share.shape)


def relu(ctx, share: torch.Tensor) -> torch.Tensor:
    """max(x, 0) = x − x·s with s = [x < 0], exact, in 8 rounds.

    The bit conversion and the product share one round: with the dealer's random bit r and a
    mask a with known a·r, the parties open c = s ⊕ r and e = x − a together. Then
    s = c + r − 2cr and x·s = c·x + (1 − 2c)(e·r + a·r), all local.
    """
    plane = sign_bit(ctx, share)
    n = share.numel()
    r_plane, r, a, a_r = ctx.dealer.random_bit(plane.shape, n, masked_shape=(n,))
    flat = share.reshape(-1)
    message = torch.cat([plane ^ r_plane, flat - a])
    if ctx.tamper is not None:                  # a cheating party's program (chapter 08)
        message = ctx.tamper("relu", message)
    opened = ctx.comm.exchange(message, "relu")
    words = plane.numel()
    c_plane = opened[0][:words].clone()
    e = torch.zeros_like(flat)
    for received in opened:
        if received is not opened[0]:
            c_plane ^= received[:words]
        e += received[words:]
    c = from_bit_plane(c_plane, n)
    x_times_s = c * flat + (1 - 2 * c) * (e * r + a_r)
    return (flat - x_times_s).reshape(share.shape)
