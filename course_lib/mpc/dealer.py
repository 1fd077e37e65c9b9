"""The dealer: correlated randomness for multiplication and comparison (chapter 07).

The dealer is a helper that is **never given data or shares of data**. It hands out random
values with a known relation — Beaver triples ``c = a·b`` (or ``a @ b``), AND triples on bits,
and random bits shared both ways — and must not collude with a computing party (the usual
"trusted dealer" / trusted third party model of CrypTen and SPDZ's offline phase).

Seed trick: each party shares a PRG seed with the dealer, so its shares of ``a`` and ``b`` (and,
for all but the last party, of ``c``) are generated locally on both sides; only the last
party's share of ``c`` is sent. The dealer runs the same program as the parties; every call
here draws from the PRGs in the same order on both sides.
"""
from __future__ import annotations

import math

import torch

from .bits import from_bit_plane, logical_shift, xor_all


__all__ = ["Dealer"]


class Dealer:
    def __init__(self, ctx):
        self.ctx = ctx

    # ------------------------------------------------------------ helpers
    def _party_draws(self, shapes, correction_shape, combine_last):
        """Party side: draw own shares; the last party receives its correction from the dealer."""
        ctx = self.ctx
        drawn = [ctx.dealer_prg.ring(s) for s in shapes]
        if ctx.rank < ctx.parties - 1:
            drawn.append(combine_last(ctx.dealer_prg, correction_shape))
        else:
            drawn.append(ctx.comm.recv(ctx.comm.dealer_rank, torch.empty(correction_shape, dtype=torch.int64)))
        return drawn

    def _dealer_draws(self, shapes, correction_shape, combine_last):
        """Dealer side: redraw every party's shares from its seed; returns per-party lists."""
        ctx = self.ctx
        per_party = []
        for i, prg in enumerate(ctx.party_prgs):
            drawn = [prg.ring(s) for s in shapes]
            if i < ctx.parties - 1:
                drawn.append(combine_last(prg, correction_shape))
            per_party.append(drawn)
        return per_party

    # ------------------------------------------------------------ arithmetic triples
    def triple(self, shape_a, shape_b, kind: str = "mul"):
        """This party's shares of (a, b, c) with c = a·b (``kind="mul"``) or a @ b (``"matmul"``)."""
        ctx = self.ctx
        shape_a, shape_b = tuple(shape_a), tuple(shape_b)
        if kind == "mul":
            shape_c = tuple(torch.broadcast_shapes(shape_a, shape_b))
        else:
            shape_c = tuple(torch.empty(shape_a, device="meta").matmul(torch.empty(shape_b, device="meta")).shape)
        ring = lambda prg, shape: prg.ring(shape)  # noqa: E731 - the share of c for parties < last
        if not ctx.is_dealer:
            return tuple(self._party_draws([shape_a, shape_b], shape_c, ring))
        parts = self._dealer_draws([shape_a, shape_b], shape_c, ring)
        a = sum(p[0] for p in parts)
        b = sum(p[1] for p in parts)
        c = a * b if kind == "mul" else a @ b
        self._last_triple = (a, b, c)       # for a subclass that authenticates the triple (course_lib.toy.spdz64)
        correction = c - sum(p[2] for p in parts[:-1])
        ctx.comm.send(ctx.parties - 1, correction)
        zeros = lambda s: torch.zeros(s, dtype=torch.int64)  # noqa: E731
        return zeros(shape_a), zeros(shape_b), zeros(shape_c)

    # ------------------------------------------------------------ binary (XOR) triples
    def binary_triple(self, shape):
        """This party's XOR shares of (a, b, c) with c = a AND b, bitwise on 64-bit words."""
        ctx = self.ctx
        shape = tuple(shape)
        ring = lambda prg, s: prg.ring(s)  # noqa: E731
        if not ctx.is_dealer:
            return tuple(self._party_draws([shape, shape], shape, ring))
        parts = self._dealer_draws([shape, shape], shape, ring)
        a = xor_all(p[0] for p in parts)
        b = xor_all(p[1] for p in parts)
        correction = (a & b) ^ xor_all(p[2] for p in parts[:-1])
        ctx.comm.send(ctx.parties - 1, correction)
        zeros = torch.zeros(shape, dtype=torch.int64)
        return zeros, zeros, zeros

    # ------------------------------------------------------------ random bits in both sharings
    def random_bit(self, plane_shape, n: int, masked_shape=None):
        """Shares of n random bits r: XOR-shared (packed in words of ``plane_shape``) and additive.

        With ``masked_shape`` (for ReLU) also shares of a random mask a and of the product a·r,
        so that x·r costs only the opening of x − a.
        """
        ctx = self.ctx
        plane_shape = tuple(plane_shape)
        shapes = [plane_shape] if masked_shape is None else [plane_shape, (n,), tuple(masked_shape)]
        ring = lambda prg, s: prg.ring(s)  # noqa: E731
        if masked_shape is None:
            if not ctx.is_dealer:
                return tuple(self._party_draws(shapes, (n,), ring))
            parts = self._dealer_draws(shapes, (n,), ring)
            r = from_bit_plane(xor_all(p[0] for p in parts), n)
            self._last_bits = r                 # for a subclass that authenticates the bit (course_lib.toy.spdz64)
            ctx.comm.send(ctx.parties - 1, r - sum(p[1] for p in parts[:-1]))
            return torch.zeros(plane_shape, dtype=torch.int64), torch.zeros((n,), dtype=torch.int64)
        # plane, r (additive), a, then a·r: the last two for the last party come from the dealer
        if not ctx.is_dealer:
            plane = ctx.dealer_prg.ring(plane_shape)
            mask = ctx.dealer_prg.ring(masked_shape)
            if ctx.rank < ctx.parties - 1:
                r_arith, product = ctx.dealer_prg.ring((n,)), ctx.dealer_prg.ring(masked_shape)
            else:  # both corrections in one message
                both = ctx.comm.recv(ctx.comm.dealer_rank, torch.empty((n + math.prod(masked_shape),), dtype=torch.int64))
                r_arith, product = both[:n], both[n:].reshape(masked_shape)
            return plane, r_arith, mask, product
        planes, masks, r_parts, product_parts = [], [], [], []
        for i, prg in enumerate(ctx.party_prgs):
            planes.append(prg.ring(plane_shape))
            masks.append(prg.ring(masked_shape))
            if i < ctx.parties - 1:
                r_parts.append(prg.ring((n,)))
                product_parts.append(prg.ring(masked_shape))
        r = from_bit_plane(xor_all(planes), n)
        a = sum(masks)
        ctx.comm.send(ctx.parties - 1, torch.cat([r - sum(r_parts),
                                                  (a * r.reshape(masked_shape) - sum(product_parts)).reshape(-1)]))
        zeros = lambda s: torch.zeros(s, dtype=torch.int64)  # noqa: E731
        return zeros(plane_shape), zeros((n,)), zeros(masked_shape), zeros(masked_shape)
