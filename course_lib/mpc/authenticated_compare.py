"""Comparison and ReLU with every opening MAC-checked: edaBits and a binary circuit in Z_2^(1+63) (chapter 08).

The semi-honest comparison (``compare``) opens XOR shares that carry no MAC. Here every bit is an
authenticated element of SPDZ2k's ring with k = 1 (a bit, its shares and MACs in Z_2^64), so XOR
is addition and AND is an authenticated Beaver product whose openings the MAC check covers.

x < 0 is the top bit of x mod 2^64. With an **edaBit** from the dealer — a random r < 2^64 shared
in the arithmetic ring and its 64 bits shared in the binary ring (Escudero, Ghosh, Keller,
Rachuri, Scholl, CRYPTO 2020) — the parties open c = x + r mod 2^64 (uniform: it hides x; checked)
and compute the top bit of c − r = c + NOT r + 1 with a carry-lookahead adder: since c is public,
every leaf (generate c ∧ ¬r, propagate c ⊕ ¬r) is linear. The edaBit also carries the products
r₂ᵢ·r₂ᵢ₊₁ of its bits in pairs, which makes the tree's first level linear too; the five levels
above cost one round each, and at most 2 ANDs per node that share their left factor P (one
opening of P − a serves both). Converting the resulting bit s to the arithmetic ring uses a
**daBit** b (one random bit in both rings): open c' = s ⊕ b (checked), then s = c' + b − 2c'b,
linear. ReLU fuses that opening with the product x·s: 7 rounds (the semi-honest ReLU takes 8).
"""
from __future__ import annotations

import math

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

    def __getitem__(self, index) -> "Bits":
        return Bits(self.ctx, self.share[index], self.mac[index])

    @staticmethod
    def cat(parts, axis) -> "Bits":
        return Bits(parts[0].ctx, np.concatenate([p.share for p in parts], axis),
                    np.concatenate([p.mac for p in parts], axis))

    @classmethod
    def zeros(cls, ctx, shape) -> "Bits":
        return cls(ctx, np.zeros(shape, np.uint64), np.zeros(shape, np.uint64))


def and_gates(ctx, groups, label: str = "compare") -> list[list[Bits]]:
    """x AND y for every y of each group (x, [y₁, …]) of equally shaped Bits, in one round.

    Authenticated Beaver products: with the dealer's a, bᵢ and cᵢ = a·bᵢ, the parties open
    e = x − a once per group and fᵢ = yᵢ − bᵢ (every opening recorded for the MAC check); then
    x·yᵢ = cᵢ + e·bᵢ + fᵢ·a + e·fᵢ. The message holds every e, then every f.
    """
    flat = [(x.share.reshape(-1), x.mac.reshape(-1), [(y.share.reshape(-1), y.mac.reshape(-1)) for y in ys])
            for x, ys in groups]
    triples = ctx.dealer.binary_triples([(x.size, len(ys)) for x, _, ys in flat])
    if ctx.is_dealer:                           # it holds no shares: only the shapes matter
        return [[Bits.zeros(ctx, x.share.shape) for _ in ys] for x, ys in groups]
    openings = [(x - a, mac_x - mac_a) for (x, mac_x, _), ((a, mac_a), _, _) in zip(flat, triples)]
    for (_, _, ys), (_, bs, _) in zip(flat, triples):
        openings += [(y - b, mac_y - mac_b) for (y, mac_y), (b, mac_b) in zip(ys, bs)]
    _, opened = open_values(ctx, binary=openings, label=label)
    beta, first_party, out, k = ctx.mac_keys.binary, ctx.rank == 0, [], len(groups)
    for (x, ys), ((a, mac_a), bs, cs), e in zip(groups, triples, opened[:k]):
        e, products = e & _ONE, []
        for (b, mac_b), (c, mac_c), f in zip(bs, cs, opened[k:k + len(ys)]):
            f = f & _ONE
            ef = e & f
            share = c + e * b + f * a
            if first_party:
                share += ef
            mac = mac_c + e * mac_b + f * mac_a + beta * ef
            products.append(Bits(ctx, share.reshape(x.share.shape), mac.reshape(x.share.shape)))
        k += len(ys)
        out.append(products)
    return out


def _tree_groups(n: int, width: int) -> list[tuple[int, int]]:
    """The AND gates of one tree level over ``width`` nodes: (count, products) groups, as ``and_gates`` takes them.

    The lowest node of every level has P = 0 (the carry-in is folded into leaf 0): it needs G only.
    """
    return [(n, 1)] + ([(n * (width // 2 - 1), 2)] if width > 2 else [])


def _affine(ctx, const, terms) -> Bits:
    """const + Σ coefficient·bits for public uint64 arrays (values mod 2): linear, so no message."""
    share = sum(coefficient * bits.share for coefficient, bits in terms)
    mac = sum(coefficient * bits.mac for coefficient, bits in terms)
    share = share + const if ctx.rank == 0 else share
    return Bits(ctx, share, mac + ctx.mac_keys.binary * const)


def sign_bit(ctx, x) -> Bits:
    """Authenticated bits [x < 0] (one per element, flat) of an :class:`AuthenticatedTensor`: 6 rounds.

    Leaf j of the adder is (g, p) = (c ∧ ¬r, c ⊕ ¬r), affine in the edaBit's bit r; leaf 0 takes the
    carry-in, (1 ⊕ ¬c·r, 0); leaf 63 is the identity (0, 1). The first level combines leaves in pairs:
    a product of two affine functions of r₂ᵢ and r₂ᵢ₊₁ is linear given the dealer's r₂ᵢ·r₂ᵢ₊₁, so
    that level costs no AND gate. The five levels above take one round each; combining
    (G, P) ∘ (G', P') = (G ⊕ P·G', P·P') multiplies both by P (one opening of P serves both), and
    the lowest node of each level and the root compute G only.
    """
    n = math.prod(x.shape)
    (r, mac_r), (bits, mac_bits), (pairs, mac_pairs) = ctx.dealer.eda_bits(n)
    if ctx.is_dealer:                            # the dealer deals the same triples, level by level
        for width in (32, 16, 8, 4, 2):
            ctx.dealer.binary_triples(_tree_groups(n, width))
        return Bits.zeros(ctx, (n,))
    flat, flat_mac = x.share.reshape(n), x.mac.reshape(n)
    (c,), _ = open_values(ctx, arithmetic=[(flat + r, flat_mac + mac_r)], label="compare mask")
    c_bits = (c.lo[:, None] >> np.arange(64, dtype=np.uint64)) & _ONE                # (n, 64): bit j in column j
    # each leaf as (g, p) = (γ₀ + γ₁·r, π₀ + π₁·r), public coefficients mod 2
    g0, g1, p0, p1 = c_bits.copy(), c_bits.copy(), c_bits ^ _ONE, np.ones_like(c_bits)
    g0[:, 0], g1[:, 0], p0[:, 0], p1[:, 0] = 1, c_bits[:, 0] ^ _ONE, 0, 0          # carry-in: c₀ ∨ ¬r₀
    R = Bits(ctx, bits, mac_bits)
    top = _affine(ctx, p0[:, 63], [(p1[:, 63], R[:, 63])])      # leaf 63's own propagate bit c₆₃ ⊕ ¬r₆₃, before ...
    g0[:, 63], g1[:, 63], p0[:, 63], p1[:, 63] = 0, 0, 1, 0     # ... the tree takes leaf 63 as the identity
    lo, hi = slice(0, None, 2), slice(1, None, 2)
    r_lo, r_hi, q = R[:, lo], R[:, hi], Bits(ctx, pairs, mac_pairs)              # q = r_lo·r_hi
    # (δ₀ + δ₁r_hi) + (ρ₀ + ρ₁r_hi)(γ₀ + γ₁r_lo) and (ρ₀ + ρ₁r_hi)(π₀ + π₁r_lo), expanded
    d0, d1, rho0, rho1 = g0[:, hi], g1[:, hi], p0[:, hi], p1[:, hi]
    G = _affine(ctx, (d0 + rho0 * g0[:, lo]) & _ONE,
                [(rho0 * g1[:, lo], r_lo), ((d1 + rho1 * g0[:, lo]) & _ONE, r_hi), (rho1 * g1[:, lo], q)])
    P = _affine(ctx, rho0 * p0[:, lo], [(rho0 * p1[:, lo], r_lo), (rho1 * p0[:, lo], r_hi), (rho1 * p1[:, lo], q)])
    while G.share.shape[1] > 1:
        width = G.share.shape[1]
        lo_g, hi_g, lo_p, hi_p = G[:, lo], G[:, hi], P[:, lo], P[:, hi]
        groups = [(hi_p[:, 0], [lo_g[:, 0]])]
        if width > 2:
            groups.append((hi_p[:, 1:], [lo_g[:, 1:], lo_p[:, 1:]]))
        products = and_gates(ctx, groups)
        if width > 2:
            (t_low,), (t_rest, P_rest) = products
            t = Bits.cat([t_low[:, None], t_rest], axis=1)
            P = Bits.cat([Bits.zeros(ctx, (n, 1)), P_rest], axis=1)
        else:
            ((t_low,),) = products
            t = t_low[:, None]
        G = hi_g + t
    return top + G[:, 0]                         # sum bit 63 = propagate ⊕ carry into bit 63


def _where(condition, if_one: Wide, if_zero: Wide) -> Wide:
    return Wide(np.where(condition, if_one.lo, if_zero.lo), np.where(condition, if_one.hi, if_zero.hi))


def lt_zero(ctx, x):
    """(share, MAC share) of [x < 0] as arithmetic 0/1 values, flat: 7 rounds, every opening checked."""
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
