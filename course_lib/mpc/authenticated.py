"""Secret-shared tensors with SPDZ2k MACs: the authenticated mode (chapter 08).

An :class:`AuthenticatedTensor` is this party's share of a fixed-point value in Z_2^64, held in
Z_2^128 (``wide.Wide``), and its share of the MAC α·x. It has the operations of
:class:`~course_lib.mpc.tensor.SecretTensor`, and programs are written once for both: in
authenticated mode ``SecretTensor.from_owner`` returns this type. Every value any party opens —
inputs, Beaver's e and f, truncations, the comparison's bits, outputs — is a partial opening
that :func:`~course_lib.mpc.authentication.check_macs` verifies before any output is revealed,
and every opened value is masked in all 128 bits.

* **inputs**: the owner publishes x − r for a mask r whose low 64 bits only it learns from the dealer;
* **products**: authenticated Beaver triples (c ≡ a·b mod 2^64, the MACs over Z_2^128);
* **truncation**: open x + r for the dealer's (r, r >> f); the same ≈ |v|/2^64 failure rate
  as the semi-honest truncation (``tensor``), since the value is still in Z_2^64;
* **comparison and ReLU**: ``authenticated_compare``.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from . import authenticated_compare
from .authentication import check_macs, open_values
from .fixed_point import FRAC_BITS, decode, encode
from .opening import open_from_owner
from .tensor import SecretTensor, owner_encoding
from .wide import Wide, mul_full

__all__ = ["AuthenticatedTensor"]


def _words(t: torch.Tensor) -> np.ndarray:
    """An int64 tensor's elements as uint64 words (Z_2^64)."""
    return t.contiguous().numpy().view(np.uint64)


def _tensor(words: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(words).view(np.int64).copy())


class AuthenticatedTensor(SecretTensor):
    """This party's (share, MAC share) of a secret fixed-point tensor, in Z_2^128."""

    def __init__(self, ctx, share: Wide, mac: Wide, frac_bits: int = FRAC_BITS):
        self.ctx, self.share, self.mac, self.frac_bits = ctx, share, mac, frac_bits

    # ------------------------------------------------------------ creating and revealing
    @classmethod
    def from_owner(cls, ctx, value, owner: int, shape=None, frac_bits: int = FRAC_BITS):
        """Party ``owner`` publishes d = x − r (one round); everyone holds r + d with MAC m_r + α·d."""
        encoded, shape = owner_encoding(ctx, value, owner, shape, frac_bits)
        r, mac, full = ctx.dealer.input_mask(shape, owner)
        contribution = _tensor(_words(encoded) - full) if ctx.rank == owner else torch.zeros(shape, dtype=torch.int64)
        d = _words(open_from_owner(ctx, contribution, owner, label="input"))
        return cls(ctx, r + cls._public_share(ctx, d), mac + Wide(*mul_full(ctx.mac_keys.arithmetic, d)), frac_bits)

    @classmethod
    def zeros(cls, ctx, shape, frac_bits: int = FRAC_BITS):
        return cls(ctx, Wide.zeros(tuple(shape)), Wide.zeros(tuple(shape)), frac_bits)

    @staticmethod
    def _public_share(ctx, words: np.ndarray) -> Wide:
        """A public constant as party 0's share (others hold 0)."""
        return Wide(words) if ctx.rank == 0 else Wide.zeros(np.shape(words))

    def _add_public_words(self, words: np.ndarray) -> "AuthenticatedTensor":
        words = np.broadcast_to(words, np.broadcast_shapes(words.shape, self.shape))
        return self._like(self.share + self._public_share(self.ctx, words),
                          self.mac + Wide(*mul_full(self.ctx.mac_keys.arithmetic, words)))

    @property
    def shape(self):
        return torch.Size(self.share.shape)

    def reveal_raw(self) -> torch.Tensor:
        """Check everything opened so far, open x + 2^64·t (t random: only x mod 2^64 shows), check that too."""
        check_macs(self.ctx)
        (t, mac_t), = self.ctx.dealer.high_mask(tuple(self.shape))
        (raw,), _ = open_values(self.ctx, arithmetic=[(self.share + t, self.mac + mac_t)], label="reveal")
        check_macs(self.ctx)
        return _tensor(raw.lo)

    def reveal(self, to: int | None = None):
        """Open the value (decoded) to every party, or only to party ``to`` (others get ``None``)."""
        if to is None:
            raw = self.reveal_raw()
        else:
            ctx = self.ctx
            check_macs(ctx)
            r, mac, full = ctx.dealer.input_mask(tuple(self.shape), to)
            (masked,), _ = open_values(ctx, arithmetic=[(self.share - r, self.mac - mac)], label="reveal")
            check_macs(ctx)
            if ctx.rank != to:
                return None
            raw = _tensor(masked.lo + full)
        return decode(raw, self.frac_bits) if self.frac_bits else raw

    # ------------------------------------------------------------ linear operations (local)
    def _like(self, share: Wide, mac: Wide, frac_bits=None):
        return AuthenticatedTensor(self.ctx, share, mac, self.frac_bits if frac_bits is None else frac_bits)

    def _map(self, fn, frac_bits=None):
        return self._like(fn(self.share), fn(self.mac), frac_bits)

    def __add__(self, other):
        if isinstance(other, AuthenticatedTensor):
            self._check_scale(other)
            return self._like(self.share + other.share, self.mac + other.mac)
        return self._add_public_words(_words(encode(other, self.frac_bits)))

    __radd__ = __add__

    def __neg__(self):
        return self._map(lambda t: -t)

    # sum, reshape, t and indexing: SecretTensor's, through _map

    @staticmethod
    def cat(tensors, dim=0):
        return tensors[0]._like(Wide.cat([t.share for t in tensors], dim), Wide.cat([t.mac for t in tensors], dim))

    # ------------------------------------------------------------ multiplication
    def __mul__(self, other):
        if isinstance(other, AuthenticatedTensor):
            return self._beaver(other, "mul")
        if isinstance(other, numbers.Integral) or (torch.is_tensor(other) and not other.is_floating_point()):
            words = _words(torch.as_tensor(other, dtype=torch.int64))
            return self._map(lambda t: t.scale(words))
        words = _words(encode(other, FRAC_BITS))
        return self._map(lambda t: t.scale(words), self.frac_bits + FRAC_BITS).truncate(FRAC_BITS)

    __rmul__ = __mul__

    def __matmul__(self, other):
        if isinstance(other, AuthenticatedTensor):
            return self._beaver(other, "matmul")
        words = _words(encode(other, FRAC_BITS))
        return self._map(lambda t: t.matmul_right(words), self.frac_bits + FRAC_BITS).truncate(FRAC_BITS)

    def _beaver(self, other, kind: str):
        """Open e = x − a and f = y − b (checked later); x·y = c + e·b + a·f + e·f, and likewise the MACs."""
        ctx = self.ctx
        (a, mac_a), (b, mac_b), (c, mac_c) = ctx.dealer.triple(tuple(self.shape), tuple(other.shape), kind)
        (e, f), _ = open_values(ctx, arithmetic=[(self.share - a, self.mac - mac_a), (other.share - b, other.mac - mac_b)],
                                 label=kind)
        e, f = e.lo, f.lo                   # the factors' values, mod 2^64
        if ctx.is_dealer:                   # it holds no shares: only the randomness of what follows matters
            shape = np.broadcast_shapes(a.shape, b.shape) if kind == "mul" else (a.shape[0], b.shape[1])
            return self._rescale(AuthenticatedTensor.zeros(ctx, shape, self.frac_bits + other.frac_bits), other)
        if kind == "mul":
            share, mac = c + b.scale(e) + a.scale(f), mac_c + mac_b.scale(e) + mac_a.scale(f)
            ef = e * f
        else:                               # a share and its MAC share meet the same public factor: one product each
            p, m = b.shape[1], a.shape[0]
            eb = Wide.cat([b, mac_b], axis=1).matmul_left(e)
            af = Wide.cat([a, mac_a], axis=0).matmul_right(f)
            share, mac = c + eb[:, :p] + af[:m], mac_c + eb[:, p:] + af[m:]
            ef = _words(torch.from_numpy(e.view(np.int64)) @ torch.from_numpy(f.view(np.int64)))
        product = AuthenticatedTensor(ctx, share, mac, self.frac_bits + other.frac_bits)._add_public_words(ef)
        return self._rescale(product, other)

    def truncate(self, bits: int):
        """x / 2^bits: open c = x + r for the dealer's pair (r, r_lo >> bits); then (c >> bits) − (r_lo >> bits)."""
        ctx = self.ctx
        (r, mac_r), (shifted, mac_shifted) = ctx.dealer.truncation_pair(tuple(self.shape), bits)
        (c,), _ = open_values(ctx, arithmetic=[(self.share + r, self.mac + mac_r)], label="truncate")
        c = c.lo
        result = AuthenticatedTensor(ctx, -shifted, -mac_shifted, self.frac_bits - bits)
        if ctx.tamper is not None:                     # a party that computes its share of the result wrongly
            lo = _words(ctx.tamper("truncate result", _tensor(result.share.lo)))
            result = result._like(Wide(lo, result.share.hi), result.mac)
        return result._add_public_words(c >> np.uint64(bits))

    # ------------------------------------------------------------ comparisons (authenticated_compare.py)
    def lt_zero(self):
        """[self < 0] as an authenticated integer 0/1 (7 rounds, every opening checked)."""
        share, mac = authenticated_compare.lt_zero(self.ctx, self)
        return AuthenticatedTensor(self.ctx, share.reshape(*self.shape), mac.reshape(*self.shape), 0)

    def relu(self):
        """max(self, 0), exact, in 7 rounds; every opening checked."""
        share, mac = authenticated_compare.relu(self.ctx, self)
        return self._like(share.reshape(*self.shape), mac.reshape(*self.shape))

    def __repr__(self):
        return f"AuthenticatedTensor(shape={tuple(self.shape)}, frac_bits={self.frac_bits})"

