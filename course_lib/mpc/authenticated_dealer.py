"""The dealer of SPDZ2k-authenticated correlated randomness (chapter 08).

Everything it hands out is an authenticated sharing in one of the two rings of
``authentication``: shares and MAC shares in Z_2^128 for arithmetic values, in Z_2^64 for bits.
One pattern serves every kind (:meth:`AuthenticatedDealer.deal`):

* **random values** — every party draws its share from the PRG it shares with the dealer, so
  the value (the sum) costs no message;
* **derived values** (c = a·b of a triple, r >> f of a truncation pair, the arithmetic copy of a
  random bit, r = Σ 2^j·rⱼ of an edaBit) — all parties but one draw their shares, and that one
  (the *receiver*) gets a correction;
* **MACs** of all of them under the global keys α (arithmetic) and β (binary) — likewise, and the
  receiver's MAC shares are the rest of the message.

Each message goes to the party that has received the fewest words so far, so the parties share
the cost of receiving and opening it.

The dealer knows α and β and every value: it is trusted not to cheat and not to collude with a
party (the threat-model box of chapter 08). Each party's key shares come from its dealer PRG.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .dealer import Dealer
from .prg import PRG
from .wide import Wide

__all__ = ["AuthenticatedDealer", "MacKeys"]

_LOW63 = np.uint64(2**63 - 1)
_ONE = np.uint64(1)


@dataclass
class MacKeys:
    """This party's shares of the two MAC keys: α in [0, 2^64) (arithmetic), β in [0, 2^63) (binary)."""
    arithmetic: np.uint64
    binary: np.uint64


def _draw_keys(prg: PRG) -> MacKeys:
    words = prg.words(2)
    return MacKeys(words[0], words[1] & _LOW63)


def _pack(arith: list[Wide], binary: list[np.ndarray]) -> torch.Tensor:
    parts = [w.lo.reshape(-1) for w in arith] + [w.hi.reshape(-1) for w in arith] + [b.reshape(-1) for b in binary]
    return torch.from_numpy(np.concatenate(parts).view(np.int64) if parts else np.zeros(0, np.int64))


def _unpack(message: torch.Tensor, arith_shapes, binary_shapes):
    words, start = message.numpy().view(np.uint64), 0
    sizes = [math.prod(s) for s in arith_shapes]
    lows, highs = [], []
    for size, shape in zip(sizes, arith_shapes):
        lows.append(words[start:start + size].reshape(shape))
        start += size
    for size, shape in zip(sizes, arith_shapes):
        highs.append(words[start:start + size].reshape(shape))
        start += size
    binary = []
    for shape in binary_shapes:
        size = math.prod(shape)
        binary.append(words[start:start + size].reshape(shape))
        start += size
    return [Wide(lo, hi) for lo, hi in zip(lows, highs)], binary


class AuthenticatedDealer(Dealer):
    """Correlated randomness with SPDZ2k MACs; ``ctx.mac_keys`` holds a party's key shares."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.words_received = [0] * ctx.parties            # by each party from the dealer: see _receiver
        if ctx.is_dealer:
            keys = [_draw_keys(prg) for prg in ctx.party_prgs]
            with np.errstate(over="ignore"):
                self.alpha = sum((Wide(k.arithmetic) for k in keys[1:]), Wide(keys[0].arithmetic))   # < 2^65
                self.beta = sum(k.binary for k in keys)                                             # mod 2^64
            ctx.mac_keys = MacKeys(np.uint64(0), np.uint64(0))   # the dealer holds no share of data
            self.own = PRG()                                      # the dealer's private randomness (the t of masks)
        else:
            ctx.mac_keys = _draw_keys(ctx.dealer_prg)

    def _receiver(self, words: int) -> int:
        """The party that receives the next message: the one that has received fewer words so far.

        Every party and the dealer make the same choice (they deal the same shapes in the same
        order), so the dealer's traffic, and its cost of receiving and opening, is shared
        between the parties instead of falling on one of them. Ties go to the highest rank.
        """
        if not words:
            return self.ctx.parties - 1
        received = self.words_received
        receiver = min(range(len(received) - 1, -1, -1), key=received.__getitem__)
        received[receiver] += words
        return receiver

    # ------------------------------------------------------------ the one pattern
    def deal(self, arith_random=(), binary_random=(), derive=None, arith_derived=(), binary_derived=()):
        """Authenticated shares of random values and of values the dealer derives from them.

        Returns (arithmetic list of (share, MAC share) Wide pairs, binary list of (share, MAC share)
        uint64 pairs): the random ones first, then the derived ones. ``derive(arith_values,
        binary_values)`` runs at the dealer only and returns (arithmetic values as Wide, binary
        values as uint64 arrays) shaped like ``arith_derived`` and ``binary_derived``.
        """
        ctx = self.ctx
        arith_random, binary_random = [tuple(s) for s in arith_random], [tuple(s) for s in binary_random]
        arith_derived, binary_derived = [tuple(s) for s in arith_derived], [tuple(s) for s in binary_derived]
        arith_all, binary_all = arith_random + arith_derived, binary_random + binary_derived
        message = (sum(2 * math.prod(s) for s in arith_derived + arith_all)
                   + sum(math.prod(s) for s in binary_derived + binary_all))
        receiver = self._receiver(message)
        if not ctx.is_dealer:
            prg = ctx.dealer_prg
            arith = [Wide.random(prg, s) for s in arith_random]
            binary = [prg.words(math.prod(s)).reshape(s) for s in binary_random]
            if ctx.rank != receiver:
                arith += [Wide.random(prg, s) for s in arith_derived]
                binary += [prg.words(math.prod(s)).reshape(s) for s in binary_derived]
                arith_macs = [Wide.random(prg, s) for s in arith_all]
                binary_macs = [prg.words(math.prod(s)).reshape(s) for s in binary_all]
            else:
                received = ctx.comm.recv(ctx.comm.dealer_rank, torch.empty(message, dtype=torch.int64))
                (arith_rest, binary_rest) = _unpack(received, arith_derived + arith_all, binary_derived + binary_all)
                arith += arith_rest[:len(arith_derived)]
                binary += binary_rest[:len(binary_derived)]
                arith_macs, binary_macs = arith_rest[len(arith_derived):], binary_rest[len(binary_derived):]
            return list(zip(arith, arith_macs)), list(zip(binary, binary_macs))
        with np.errstate(over="ignore"):
            return self._deal_as_dealer(arith_random, binary_random, derive, arith_derived, binary_derived, receiver)

    def _deal_as_dealer(self, arith_random, binary_random, derive, arith_derived, binary_derived, receiver):
        ctx = self.ctx
        arith_shares = [[Wide.random(prg, s) for s in arith_random] for prg in ctx.party_prgs]
        binary_shares = [[prg.words(math.prod(s)).reshape(s) for s in binary_random]
                         for prg in ctx.party_prgs]
        arith_values = [sum((p[j] for p in arith_shares[1:]), arith_shares[0][j]) for j in range(len(arith_random))]
        binary_values = [sum(p[j] for p in binary_shares) for j in range(len(binary_random))]
        derived_a, derived_b = derive(arith_values, binary_values) if derive else ([], [])
        others = [prg for rank, prg in enumerate(ctx.party_prgs) if rank != receiver]
        drawn_a = [[Wide.random(prg, s) for s in arith_derived] for prg in others]
        drawn_b = [[prg.words(math.prod(s)).reshape(s) for s in binary_derived] for prg in others]
        fix_a = [v - sum((d[j] for d in drawn_a[1:]), drawn_a[0][j]) for j, v in enumerate(derived_a)]
        fix_b = [v - sum(d[j] for d in drawn_b) for j, v in enumerate(derived_b)]
        all_a, all_b = arith_values + list(derived_a), binary_values + list(derived_b)
        mac_a = [v.scale(self.alpha.lo) + Wide(v.lo * self.alpha.hi).shift_up() for v in all_a]
        mac_b = [v * self.beta for v in all_b]
        for prg in others:
            for j, v in enumerate(all_a):
                mac_a[j] = mac_a[j] - Wide.random(prg, v.shape)
            for j, v in enumerate(all_b):
                mac_b[j] = mac_b[j] - prg.words(v.size).reshape(v.shape)
        ctx.comm.send(receiver, _pack(fix_a + mac_a, fix_b + mac_b))
        self.values = (all_a, all_b)                 # for the kinds that tell an owner a value
        zeros_a = [(Wide.zeros(v.shape), Wide.zeros(v.shape)) for v in all_a]
        zeros_b = [(np.zeros(v.shape, np.uint64), np.zeros(v.shape, np.uint64)) for v in all_b]
        return zeros_a, zeros_b

    # ------------------------------------------------------------ the kinds
    def triple(self, shape_a, shape_b, kind: str):
        """Authenticated (a, b, c) with c ≡ a·b (or a @ b) modulo 2^64: three (share, MAC) pairs."""
        shape_c = _product_shape(shape_a, shape_b, kind)

        def derive(values, _):
            a, b = values
            c = a.lo * b.lo if kind == "mul" else _matmul64(a.lo, b.lo)
            return [Wide(c)], []
        arith, _ = self.deal(arith_random=[shape_a, shape_b], derive=derive, arith_derived=[shape_c])
        return arith

    def truncation_pair(self, shape, bits: int):
        """Authenticated r (uniform low limb) and r_lo >> bits: truncation that keeps MACs valid."""
        arith, _ = self.deal(arith_random=[shape], derive=lambda v, _: ([Wide(v[0].lo >> np.uint64(bits))], []),
                             arith_derived=[shape])
        return arith

    def input_mask(self, shape, owner: int):
        """An authenticated random r, and r modulo 2^64 for party ``owner`` (None elsewhere)."""
        ctx = self.ctx
        ((r, mac),), _ = self.deal(arith_random=[shape])
        if ctx.is_dealer:
            ctx.comm.send(owner, torch.from_numpy(self.values[0][0].lo.reshape(-1).view(np.int64).copy()))
            return r, mac, None
        if ctx.rank != owner:
            return r, mac, None
        full = ctx.comm.recv(ctx.comm.dealer_rank, torch.empty(math.prod(shape), dtype=torch.int64))
        return r, mac, full.numpy().view(np.uint64).reshape(shape)

    def binary_triples(self, groups):
        """Authenticated bits for one round of AND gates that share left factors, in one message.

        ``groups`` lists (count, products): ``count`` gates of a left factor x with ``products``
        right factors y₁ … each. For each group: a, b₁ …, c₁ = a AND b₁ …, all shaped (count,);
        opening x − a once serves every product x·yᵢ. Returns, per group, ((a, MAC), [(bᵢ, MAC)],
        [(cᵢ, MAC)]).
        """
        groups = [(int(count), int(products)) for count, products in groups]
        randoms = [(count,) for count, products in groups for _ in range(1 + products)]
        derived = [(count,) for count, products in groups for _ in range(products)]

        def derive(_, values):
            out, start = [], 0
            for _, products in groups:
                a = values[start]
                out += [a & values[start + 1 + i] & _ONE for i in range(products)]
                start += 1 + products
            return [], out
        _, binary = self.deal(binary_random=randoms, derive=derive, binary_derived=derived)
        out, start, made = [], 0, len(randoms)
        for _, products in groups:
            out.append((binary[start], binary[start + 1:start + 1 + products], binary[made:made + products]))
            start, made = start + 1 + products, made + products
        return out

    def eda_bits(self, n: int):
        """An edaBit per element, with the products of its bits in pairs (2i, 2i + 1).

        An edaBit is a random r < 2^64 in the arithmetic ring and its 64 bits in the binary one.
        The arithmetic value is r + 2^64·t for a random t, so that x + r, opened whole, hides x's upper bits.
        Returns ((share, MAC) of r, (n,)), ((share, MAC) of the bits, (n, 64), bit j of r in column j),
        ((share, MAC) of r₂ᵢ AND r₂ᵢ₊₁, (n, 32)): the comparison's first level then needs no AND gate.
        """
        def derive(_, bits):
            weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
            r = bits[0] & _ONE
            return [Wide((r * weights).sum(axis=1, dtype=np.uint64), self.own.words(n))], [r[:, 0::2] & r[:, 1::2]]
        arith, binary = self.deal(binary_random=[(n, 64)], derive=derive, arith_derived=[(n,)],
                                  binary_derived=[(n, 32)])
        return arith[0], binary[0], binary[1]

    def relu_bits(self, n: int):
        """For the fused ReLU step: a random bit b in both rings, a random mask a, and [a·b] (arithmetic)."""
        def derive(values, bits):
            bit = bits[0] & _ONE
            return [Wide(bit), Wide(values[0].lo * bit)], []
        arith, binary = self.deal(arith_random=[(n,)], binary_random=[(n,)], derive=derive,
                                  arith_derived=[(n,), (n,)])
        mask, bit_arith, product = arith
        return binary[0], bit_arith, mask, product

    def dabits(self, n: int):
        """A random bit in both rings: ((share, MAC) binary, (share, MAC) arithmetic)."""
        arith, binary = self.deal(binary_random=[(n,)], derive=lambda _, bits: ([Wide(bits[0] & _ONE)], []),
                                  arith_derived=[(n,)])
        return binary[0], arith[0]

    def high_mask(self, shape):
        """An authenticated 2^64·t, t random: added before a value is opened, it hides the upper 64 bits."""
        arith, _ = self.deal(derive=lambda *_: ([Wide(np.zeros(shape, np.uint64), self.own.words(_size(shape)).reshape(shape))], []),
                             arith_derived=[shape])
        return arith


def _size(shape) -> int:
    return math.prod(shape)


def _product_shape(shape_a, shape_b, kind):
    if kind == "mul":
        return tuple(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    return (tuple(shape_a)[0], tuple(shape_b)[1])


def _matmul64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b modulo 2^64 for uint64 matrices (int64 wrap-around in torch)."""
    return torch.from_numpy(a.view(np.int64)).matmul(torch.from_numpy(b.view(np.int64))).numpy().view(np.uint64)
