"""Comparison and ReLU with every opening MAC-checked: edaBits and a binary circuit in Z_2^(1+63) (chapter 08).

The semi-honest comparison (``compare``) opens XOR shares that carry no MAC. Here every bit is an
authenticated element of SPDZ2k's ring with k = 1 (a bit, its shares and MACs in Z_2^64), so XOR
is addition and AND is an authenticated Beaver product whose openings the MAC check covers.

x < 0 is the top bit of x mod 2^64. With an **edaBit** from the dealer — a random r < 2^64 shared
in the arithmetic ring and its 64 bits shared in the binary ring (Escudero, Ghosh, Keller,
Rachuri, Scholl, CRYPTO 2020) — the parties open c = x + r mod 2^64 (uniform: it hides x; checked)
and compute the top bit of c − r = c + NOT r + 1 with a carry-lookahead adder: since c is public,
every leaf (generate c ∧ ¬r, propagate c ⊕ ¬r) is linear, and the six levels of the tree cost
2 ANDs per node, one round per level. Converting the resulting bit s to the arithmetic ring uses a
**daBit** b (one random bit in both rings): open c' = s ⊕ b (checked), then s = c' + b − 2c'b,
linear. ReLU fuses that opening with the product x·s: 8 rounds, as in the semi-honest protocol.
"""
from __future__ import annotations

import numpy as np

from .authentication import open_values
from .wide import Wide

__all__ = ["Bits", "and_gates", "sign_bit", "lt_zero", "relu"]

_ONE = np.uint64(1)


class Bits:
    """Authenticated bits: this party's shares and MAC shares in Z_2^64 (the value is the sum mod 2)."""

    __slots__ = ("ctx", "share", "mac")

    def __init__(self, ctx, share: np.ndarray, mac: np.ndarray):
        self.ctx, self.share, self.mac = ctx, share, mac

    def __add__(self, other: "Bits") -> "Bits":             # XOR
        return Bits(self.ctx, self.share + other.share, self.mac + other.mac)

    def xor_public(self, bits) -> "Bits":
        """XOR with public bits: party 0 adds them to its share, every party adds β·bits to its MAC."""
        bits = np.asarray(bits, dtype=np.uint64)
        share = self.share + bits if self.ctx.rank == 0 else self.share + np.zeros_like(bits)
        return Bits(self.ctx, share, self.mac + self.ctx.mac_keys.binary * bits)

    def and_public(self, bits) -> "Bits":
        bits = np.asarray(bits, dtype=np.uint64)
        return Bits(self.ctx, self.share * bits, self.mac * bits)

    def __getitem__(self, index) -> "Bits":
        return Bits(self.ctx, self.share[index], self.mac[index])

    @staticmethod
    def cat(parts, axis) -> "Bits":
        return Bits(parts[0].ctx, np.concatenate([p.share for p in parts], axis),
                    np.concatenate([p.mac for p in parts], axis))

    @classmethod
    def zeros(cls, ctx, shape) -> "Bits":
        return cls(ctx, np.zeros(shape, np.uint64), np.zeros(shape, np.uint64))


def and_gates(ctx, pairs, label: str = "compare") -> list[Bits]:
    """x AND y for several pairs of equally shaped Bits, in one round (authenticated Beaver products)."""
    sizes = [x.share.size for x, _ in pairs]
    (a, mac_a), (b, mac_b), (c, mac_c) = ctx.dealer.binary_triples((sum(sizes),))
    xs = Bits(ctx, np.concatenate([x.share.reshape(-1) for x, _ in pairs]),
              np.concatenate([x.mac.reshape(-1) for x, _ in pairs]))
    ys = Bits(ctx, np.concatenate([y.share.reshape(-1) for _, y in pairs]),
              np.concatenate([y.mac.reshape(-1) for _, y in pairs]))
    _, (e, f) = open_values(ctx, binary=[(xs.share - a, xs.mac - mac_a), (ys.share - b, ys.mac - mac_b)], label=label)
    e, f = e & _ONE, f & _ONE
    if ctx.is_dealer:                           # it holds no shares: only the shapes matter
        return [Bits.zeros(ctx, x.share.shape) for x, _ in pairs]
    share = c + e * b + f * a + (e * f if ctx.rank == 0 else 0)
    mac = mac_c + e * mac_b + f * mac_a + ctx.mac_keys.binary * (e * f)
    out, start = [], 0
    for (x, _), size in zip(pairs, sizes):
        out.append(Bits(ctx, share[start:start + size].reshape(x.share.shape),
                        mac[start:start + size].reshape(x.share.shape)))
        start += size
    return out


def _tree_sizes(n: int) -> list[int]:
    """AND gates per level of the 64-leaf tree: two per node below the root, one at the root."""
    return [n * width for width in (64, 32, 16, 8, 4)] + [n]


def sign_bit(ctx, x) -> Bits:
    """Authenticated bits [x < 0] (one per element, flat) of an :class:`AuthenticatedTensor`: 7 rounds."""
    n = int(np.prod(x.shape, dtype=np.int64))
    (r, mac_r), (bits, mac_bits) = ctx.dealer.eda_bits(n)
    if ctx.is_dealer:                            # the dealer deals the same triples, level by level
        for size in _tree_sizes(n):
            ctx.dealer.binary_triples((size,))
        return Bits.zeros(ctx, (n,))
    flat, flat_mac = x.share.reshape(n), x.mac.reshape(n)
    (c,), _ = open_values(ctx, arithmetic=[(flat + r, flat_mac + mac_r)], label="compare mask")
    c_bits = (c.lo[:, None] >> np.arange(64, dtype=np.uint64)) & _ONE                # (n, 64): bit j in column j
    beta, first_party = ctx.mac_keys.binary, ctx.rank == 0
    not_r = Bits(ctx, bits + _ONE if first_party else bits, mac_bits + beta)
    G = not_r.and_public(c_bits)                                                  # generate: c ∧ ¬r
    P = not_r.xor_public(c_bits)                                                  # propagate: c ⊕ ¬r
    top = P[:, 63]
    # leaf 0 takes the carry-in 1: G = c₀ ∨ ¬r₀ = 1 ⊕ (1 − c₀)·r₀, P = 0; leaf 63 is the identity (0, 1)
    first = Bits(ctx, bits[:, 0], mac_bits[:, 0]).and_public(_ONE - c_bits[:, 0]).xor_public(_ONE)
    G.share[:, 0], G.mac[:, 0], G.share[:, 63], G.mac[:, 63] = first.share, first.mac, 0, 0
    P = Bits(ctx, P.share.copy(), P.mac.copy())
    P.share[:, 0], P.mac[:, 0], P.share[:, 63], P.mac[:, 63] = 0, 0, 1 if first_party else 0, beta
    while G.share.shape[1] > 1:
        lo_g, hi_g, lo_p, hi_p = G[:, 0::2], G[:, 1::2], P[:, 0::2], P[:, 1::2]
        if G.share.shape[1] > 2:
            t, P = and_gates(ctx, [(hi_p, lo_g), (hi_p, lo_p)])
        else:                                   # the root's propagate bit is not needed
            (t,) = and_gates(ctx, [(hi_p, lo_g)])
        G = hi_g + t
    return top + G[:, 0]                         # sum bit 63 = propagate ⊕ carry into bit 63


def _where(condition, if_one: Wide, if_zero: Wide) -> Wide:
    return Wide(np.where(condition, if_one.lo, if_zero.lo), np.where(condition, if_one.hi, if_zero.hi))


def lt_zero(ctx, x):
    """(share, MAC share) of [x < 0] as arithmetic 0/1 values, flat: 8 rounds, every opening checked."""
    s = sign_bit(ctx, x)
    (b, mac_b), (b_arith, mac_b_arith) = ctx.dealer.dabits(s.share.size)
    if ctx.is_dealer:
        return b_arith, mac_b_arith
    _, (c,) = open_values(ctx, binary=[(s.share + b, s.mac + mac_b)], label="bit conversion")
    c = c & _ONE
    one = Wide(np.full(c.shape, 1 if ctx.rank == 0 else 0, dtype=np.uint64))
    one_mac = Wide(np.full(c.shape, ctx.mac_keys.arithmetic, dtype=np.uint64))
    return _where(c == 1, one - b_arith, b_arith), _where(c == 1, one_mac - mac_b_arith, mac_b_arith)


def relu(ctx, x):
    """(share, MAC share) of max(x, 0), flat: the bit conversion and the product x·[x < 0] in one round.

    With the dealer's bit b (both rings), mask a and [a·b]: open c' = s ⊕ b and e = x − a together;
    x·b = e·b + a·b, and ReLU(x) = x·b where c' = 1 (then s = 1 − b), x − x·b where c' = 0.
    """
    s = sign_bit(ctx, x)
    n = s.share.size
    (b, mac_b), (b_arith, mac_b_arith), (a, mac_a), (ab, mac_ab) = ctx.dealer.relu_bits(n)
    if ctx.is_dealer:
        return a, mac_a
    flat, flat_mac = x.share.reshape(n), x.mac.reshape(n)
    (e,), (c,) = open_values(ctx, arithmetic=[(flat - a, flat_mac - mac_a)], binary=[(s.share + b, s.mac + mac_b)],
                              label="relu")
    c, e = c & _ONE, e.lo
    xb, xb_mac = b_arith.scale(e) + ab, mac_b_arith.scale(e) + mac_ab
    return _where(c == 1, xb, flat - xb), _where(c == 1, xb_mac, flat_mac - xb_mac)
