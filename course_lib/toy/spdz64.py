"""INSECURE — for learning: SPDZ-style MACs in the value ring Z_2^64, and a comparison they do not cover (chapter 08).

The course's first authenticated mode, kept to be taken apart. Run a program with
``authenticated=course_lib.toy.spdz64.SCHEME`` to use it. Two flaws, each shown in chapter 08:

1. **The comparison is not authenticated.** Its openings are XOR shares without MACs, and the MAC
   of the resulting bit is computed from the public c = bit ⊕ r: a party that flips c gets a valid
   MAC for the flipped bit (``course_lib.mpc.attacks.steer_relus``, ``sabotage_relus``).
2. **MACs in the value ring leak the top bits.** The check adds up r·(MAC − α·value) with
   coefficients r and key α in Z_2^64. An error δ = 2^v·(odd) escapes when v₂(r) + v₂(α) ≥ 64 − v,
   with probability (m + 2)/2^(m+1), m = 64 − v (:func:`escape_probability`): 3/4 for the top bit,
   1/2 for bit 62. SPDZ2k (``course_lib.mpc.authentication``) computes MACs modulo 2^(64+s).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..mpc import compare
from ..mpc.authentication import commit_and_reveal
from ..mpc.bits import from_bit_plane, logical_shift
from ..mpc.dealer import Dealer
from ..mpc.errors import CheatingDetectedError
from ..mpc.fixed_point import FRAC_BITS, decode, encode
from ..mpc.opening import open_from_owner, open_values
from ..mpc.prg import PRG
from ..mpc.tensor import SecretTensor, owner_encoding

__all__ = ["SCHEME", "Spdz64Tensor", "Spdz64Dealer", "check_macs", "escape_probability"]


def escape_probability(delta: int, bits: int = 64) -> float:
    """The chance that one error ``delta`` in one opened value passes :func:`check_macs` (module docstring).

    With r and α uniform in Z_2^bits and δ = 2^v·(odd): P(v₂(r) + v₂(α) ≥ bits − v) = (m + 2)/2^(m+1), m = bits − v.
    """
    delta %= 2**bits
    if delta == 0:
        raise ValueError("an error of 0 is no error")
    m = bits - ((delta & -delta).bit_length() - 1)
    return (m + 2) / 2 ** (m + 1)


def check_macs(ctx) -> None:
    """Verify every arithmetic value opened since the last check against its MAC in Z_2^64; raise
    CheatingDetectedError if the check fails (an error escapes with :func:`escape_probability`; XOR
    openings are not checked)."""
    if ctx.is_dealer or not ctx.openings:
        return
    seeds = commit_and_reveal(ctx, os.urandom(32), "coin")
    coefficients = PRG(hashlib.sha256(b"".join(seeds)).digest())
    sigma = torch.zeros((), dtype=torch.int64)
    for value, mac in ctx.openings:
        r = coefficients.ring(value.shape)
        sigma = sigma + (r * (mac - ctx.mac_key * value)).sum()
    ctx.openings = []
    sigmas = commit_and_reveal(ctx, sigma.reshape(1).numpy().tobytes(), "MAC check")
    total = sum(int.from_bytes(s, "little", signed=True) for s in sigmas) % 2**64
    if total != 0:
        raise CheatingDetectedError("MAC check failed: a party changed an arithmetic value it opened; aborting "
                                    "before any output is revealed")


def open_authenticated(ctx, pairs, label: str) -> list[torch.Tensor]:
    """Open several (share, MAC share) pairs in one round; remember them for the next MAC check."""
    values = open_values(ctx, *(share for share, _ in pairs), label=label)
    if not ctx.is_dealer:
        ctx.openings += [(value, mac) for value, (_, mac) in zip(values, pairs)]
    return values


class Spdz64Dealer(Dealer):
    """The toy's dealer: every value it hands out comes with shares of its MAC α·v in Z_2^64 under
    the global key α = Σ αᵢ, which the parties hold in shares.

    Party i's MAC shares are drawn from the PRG it shares with the dealer; the last party's is a
    correction the dealer sends. The dealer knows α — it is trusted not to collude, as before.
    """

    def __init__(self, ctx):
        super().__init__(ctx)
        ctx.openings = []     # (opened value, this party's MAC share), until checked
        if ctx.is_dealer:
            ctx.mac_key = sum(prg.ring(()) for prg in ctx.party_prgs)
        else:
            ctx.mac_key = ctx.dealer_prg.ring(())

    def mac_shares(self, shape, value=None) -> torch.Tensor:
        """This party's share of α·value (``value`` is known only on the dealer's side)."""
        ctx, shape = self.ctx, tuple(shape)
        if not ctx.is_dealer:
            if ctx.rank < ctx.parties - 1:
                return ctx.dealer_prg.ring(shape)
            return ctx.comm.recv(ctx.comm.dealer_rank, torch.empty(shape, dtype=torch.int64))
        drawn = [prg.ring(shape) for prg in ctx.party_prgs[:-1]]
        ctx.comm.send(ctx.parties - 1, ctx.mac_key * value - sum(drawn, torch.zeros(shape, dtype=torch.int64)))
        return torch.zeros(shape, dtype=torch.int64)

    def _random_shares(self, shape):
        """Shares of a random value drawn by every party from its dealer PRG; the dealer returns the value."""
        ctx = self.ctx
        if ctx.is_dealer:
            return sum(prg.ring(shape) for prg in ctx.party_prgs)
        return ctx.dealer_prg.ring(shape)

    def authenticated_triple(self, shape_a, shape_b, kind: str = "mul"):
        """Shares of (a, b, c = a·b or a @ b) and of their MACs."""
        ctx = self.ctx
        a, b, c = self.triple(shape_a, shape_b, kind)
        if ctx.is_dealer:
            a_value, b_value, c_value = self._last_triple
        else:
            a_value = b_value = c_value = None
        return a, b, c, self.mac_shares(a.shape, a_value), self.mac_shares(b.shape, b_value), \
            self.mac_shares(c.shape, c_value)

    def input_mask(self, shape, owner: int):
        """(share of r, share of α·r, r itself for ``owner`` else None): to authenticate an input or an output."""
        ctx, shape = self.ctx, tuple(shape)
        r = self._random_shares(shape)
        mac = self.mac_shares(shape, r if ctx.is_dealer else None)
        if ctx.is_dealer:
            ctx.comm.send(owner, r)
            return torch.zeros(shape, dtype=torch.int64), mac, None
        full = ctx.comm.recv(ctx.comm.dealer_rank, torch.empty(shape, dtype=torch.int64)) if ctx.rank == owner else None
        return r, mac, full

    def truncation_pair(self, shape, bits: int):
        """Shares of a random r, of r >> bits (logical), and of both MACs: truncation that keeps MACs valid."""
        ctx, shape = self.ctx, tuple(shape)
        r = self._random_shares(shape)
        if ctx.is_dealer:
            shifted = logical_shift(r, bits)
            drawn = [prg.ring(shape) for prg in ctx.party_prgs[:-1]]
            ctx.comm.send(ctx.parties - 1, shifted - sum(drawn, torch.zeros(shape, dtype=torch.int64)))
            shifted_share = torch.zeros(shape, dtype=torch.int64)
        elif ctx.rank < ctx.parties - 1:
            shifted_share = ctx.dealer_prg.ring(shape)
        else:
            shifted_share = ctx.comm.recv(ctx.comm.dealer_rank, torch.empty(shape, dtype=torch.int64))
        mac_r = self.mac_shares(shape, r if ctx.is_dealer else None)
        mac_shifted = self.mac_shares(shape, shifted if ctx.is_dealer else None)
        return (torch.zeros(shape, dtype=torch.int64) if ctx.is_dealer else r), mac_r, shifted_share, mac_shifted

    def authenticated_random_bit(self, plane_shape, n: int):
        """XOR shares of n random bits, additive shares of them, and MAC shares of the additive ones."""
        plane, r = self.random_bit(plane_shape, n)
        return plane, r, self.mac_shares((n,), self._last_bits if self.ctx.is_dealer else None)


class Spdz64Tensor(SecretTensor):
    """A share in Z_2^64 and its MAC share α·x, also in Z_2^64 (the toy)."""

    def __init__(self, ctx, share: torch.Tensor, frac_bits: int = FRAC_BITS, mac: torch.Tensor | None = None):
        super().__init__(ctx, share, frac_bits)
        self.mac = torch.zeros_like(share) if mac is None else mac

    @classmethod
    def from_owner(cls, ctx, value, owner: int, shape=None, frac_bits: int = FRAC_BITS):
        """The owner publishes x − r for the dealer's authenticated mask r (which only it knows): one round."""
        encoded, shape = owner_encoding(ctx, value, owner, shape, frac_bits)
        r, mac, full = ctx.dealer.input_mask(shape, owner)
        contribution = encoded - full if ctx.rank == owner else torch.zeros(shape, dtype=torch.int64)
        d = open_from_owner(ctx, contribution, owner, label="input")
        share = r + d if ctx.rank == 0 else r
        return cls(ctx, share, frac_bits, mac + ctx.mac_key * d)

    @classmethod
    def zeros(cls, ctx, shape, frac_bits: int = FRAC_BITS):
        return cls(ctx, torch.zeros(tuple(shape), dtype=torch.int64), frac_bits)

    def reveal_raw(self) -> torch.Tensor:
        check_macs(self.ctx)                               # everything opened so far, before the output
        (raw,) = open_authenticated(self.ctx, [(self.share, self.mac)], label="reveal")
        check_macs(self.ctx)                               # and the output itself
        return raw

    def reveal(self, to: int | None = None):
        if to is None:
            raw = self.reveal_raw()
            return decode(raw, self.frac_bits) if self.frac_bits else raw
        ctx = self.ctx
        check_macs(ctx)
        r, mac, full = ctx.dealer.input_mask(self.shape, to)
        (masked,) = open_authenticated(ctx, [(self.share - r, self.mac - mac)], label="reveal")
        check_macs(ctx)
        if ctx.rank != to:
            return None
        raw = masked + full
        return decode(raw, self.frac_bits) if self.frac_bits else raw

    def _like(self, share, frac_bits=None, mac=None):
        return Spdz64Tensor(self.ctx, share, self.frac_bits if frac_bits is None else frac_bits, mac)

    def _map(self, fn, frac_bits=None):
        return self._like(fn(self.share), frac_bits, mac=fn(self.mac))

    def __add__(self, other):
        if isinstance(other, SecretTensor):
            self._check_scale(other)
            return self._like(self.share + other.share, mac=self.mac + other.mac)
        return self._like(self.share + self._public(other), mac=self.mac + self.ctx.mac_key * encode(other, self.frac_bits))

    __radd__ = __add__

    @staticmethod
    def cat(tensors, dim=0):
        return tensors[0]._like(torch.cat([t.share for t in tensors], dim), mac=torch.cat([t.mac for t in tensors], dim))

    def _beaver(self, other, kind: str):
        """Beaver's trick on authenticated shares: the MAC of x·y is m_c + e·m_b + m_a·f + α·e·f."""
        ctx = self.ctx
        a, b, c, mac_a, mac_b, mac_c = ctx.dealer.authenticated_triple(self.shape, other.shape, kind)
        e, f = open_authenticated(ctx, [(self.share - a, self.mac - mac_a), (other.share - b, other.mac - mac_b)],
                                  label=kind)
        op = torch.mul if kind == "mul" else torch.matmul
        z = c + op(e, b) + op(a, f)
        if ctx.rank == 0:
            z = z + op(e, f)
        mac = mac_c + op(e, mac_b) + op(mac_a, f) + ctx.mac_key * op(e, f)
        return self._rescale(Spdz64Tensor(ctx, z, self.frac_bits + other.frac_bits, mac), other)

    def truncate(self, bits: int):
        """Open c = x + r for the dealer's pair (r, r >> bits); then x >> bits ≈ (c >> bits) − (r >> bits)."""
        ctx = self.ctx
        r, mac_r, shifted, mac_shifted = ctx.dealer.truncation_pair(self.shape, bits)
        (c,) = open_authenticated(ctx, [(self.share + r, self.mac + mac_r)], label="truncate")
        public = logical_shift(c, bits)
        share = (public if ctx.rank == 0 else 0) - shifted
        return Spdz64Tensor(ctx, share, self.frac_bits - bits, ctx.mac_key * public - mac_shifted)

    def lt_zero(self):
        """[self < 0]: the semi-honest sign bit, then a bit conversion whose MAC comes from the public c (flaw 1)."""
        ctx = self.ctx
        plane, shape = compare.sign_bit(ctx, self.share), self.share.shape
        n = int(np.prod(shape, dtype=np.int64))
        r_plane, r_arith, mac_r = ctx.dealer.authenticated_random_bit(plane.shape, n)
        (c_plane,) = open_values(ctx, plane ^ r_plane, label="bit conversion", op="xor")
        c = from_bit_plane(c_plane, n)
        share = r_arith - 2 * c * r_arith
        if ctx.rank == 0:
            share = share + c
        mac = mac_r - 2 * c * mac_r + ctx.mac_key * c
        return Spdz64Tensor(ctx, share.reshape(shape), 0, mac.reshape(shape))

    def relu(self):
        return self - self * self.lt_zero()


@dataclass(frozen=True)
class Scheme:
    """What ``Context(authenticated=...)`` needs of an authentication scheme: its dealer and tensor types."""
    dealer: type
    tensor: type


SCHEME = Scheme(dealer=Spdz64Dealer, tensor=Spdz64Tensor)
