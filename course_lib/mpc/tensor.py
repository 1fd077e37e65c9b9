"""Secret-shared tensors and the arithmetic protocols (chapter 07).

A :class:`SecretTensor` is *this party's* additive share of a value in Z_2^64, plus the number
of fractional bits of its fixed-point encoding. Addition is local; multiplication by a secret
uses a Beaver triple from the dealer and one round of communication; fixed-point products
are truncated locally (two parties: SecureML's method). The result is off by at most one unit
in the last place, and is wrong (a huge error) with probability about |v|/2^64 per element,
where v = xy·2^32 is the product with 32 fractional bits: 2^-22 for |xy| ≈ 1,000 (2^10), 2^-12
for |xy| = 2^20, 1/4 for 2^30 (chapter 07 measures it). On the digits MLP's test images the two
layers' outputs average |v| ≈ 2^32 and 2^34.2, i.e. about 2^-32 and 2^-29.8 per element. Keep
products well below 2^31 in absolute value.
"""
from __future__ import annotations

import numbers

import torch

from . import compare
from .errors import MPCError
from .fixed_point import FRAC_BITS, decode, encode
from .opening import open_values

__all__ = ["SecretTensor"]



def owner_encoding(ctx, value, owner: int, shape, frac_bits: int):
    """(the owner's encoded value or None, the shape): the start of every ``from_owner``."""
    if ctx.rank == owner:
        encoded = encode(value, frac_bits) if frac_bits else torch.as_tensor(value, dtype=torch.int64)
        return encoded, tuple(encoded.shape)
    if shape is None:
        raise ValueError("parties other than the owner must give the shape")
    return None, tuple(shape)


class SecretTensor:
    """This party's share of a secret tensor (fixed point with ``frac_bits`` fractional bits).

    In authenticated mode (``run_in_process(..., authenticated=True)``) :meth:`from_owner` returns
    an :class:`~course_lib.mpc.authenticated.AuthenticatedTensor` instead, with the same operations
    and SPDZ2k MACs (chapter 08): programs are written once for both.
    """

    def __init__(self, ctx, share: torch.Tensor, frac_bits: int = FRAC_BITS):
        if type(self) is SecretTensor and ctx.tensor_type is not SecretTensor:
            raise MPCError("in authenticated mode a share needs its MAC: make it with SecretTensor.from_owner or "
                           "SecretTensor.zeros, not SecretTensor(ctx, share)")
        self.ctx, self.share, self.frac_bits = ctx, share, frac_bits

    # ------------------------------------------------------------ creating and revealing
    @classmethod
    def from_owner(cls, ctx, value, owner: int, shape=None, frac_bits: int = FRAC_BITS):
        """Secret-share ``value``, known only to party ``owner``; the others pass ``shape``.

        Each other party's share comes from the PRG it shares with the owner, so nothing is sent:
        the owner keeps ``encode(value) − Σ others' shares``.
        """
        if cls is SecretTensor and ctx.tensor_type is not SecretTensor:
            return ctx.tensor_type.from_owner(ctx, value, owner, shape=shape, frac_bits=frac_bits)
        encoded, shape = owner_encoding(ctx, value, owner, shape, frac_bits)
        if ctx.is_dealer:
            return cls(ctx, torch.zeros(shape, dtype=torch.int64), frac_bits)
        if ctx.rank == owner:
            share = encoded.clone()
            for other in range(ctx.parties):
                if other != owner:
                    share -= ctx.pair_prgs[other].ring(shape)
        else:
            share = ctx.pair_prgs[owner].ring(shape)
        return cls(ctx, share, frac_bits)

    @classmethod
    def zeros(cls, ctx, shape, frac_bits: int = FRAC_BITS):
        """Shares of a public 0 (e.g. initial weights), of the type the context computes with."""
        if cls is SecretTensor and ctx.tensor_type is not SecretTensor:
            return ctx.tensor_type.zeros(ctx, shape, frac_bits)
        return cls(ctx, torch.zeros(tuple(shape), dtype=torch.int64), frac_bits)

    @property
    def shape(self):
        return self.share.shape

    def reveal_raw(self) -> torch.Tensor:
        return open_values(self.ctx, self.share, label="reveal")[0]

    def reveal(self, to: int | None = None):
        """Open the value (decoded) to every party, or only to party ``to`` (others get ``None``)."""
        if to is None:
            raw = self.reveal_raw()
        else:
            raw = self.ctx.comm.gather_sum(to, self.share, label="reveal")
            if raw is None:
                return None
            if self.ctx.view is not None:
                self.ctx.view.append(("reveal", raw.clone()))
        return decode(raw, self.frac_bits) if self.frac_bits else raw

    # ------------------------------------------------------------ linear operations (local)
    def _like(self, share, frac_bits=None):
        return SecretTensor(self.ctx, share, self.frac_bits if frac_bits is None else frac_bits)

    def _map(self, fn, frac_bits=None):
        """The same linear map applied to the share."""
        return self._like(fn(self.share), frac_bits)

    def _public(self, value) -> torch.Tensor:
        """A public constant encoded at this tensor's scale, added by party 0 only."""
        encoded = encode(value, self.frac_bits)
        return encoded if self.ctx.rank == 0 else torch.zeros_like(encoded)

    def __add__(self, other):
        if isinstance(other, SecretTensor):
            self._check_scale(other)
            return self._like(self.share + other.share)
        return self._like(self.share + self._public(other))

    __radd__ = __add__

    def __neg__(self):
        return self._map(lambda t: -t)

    def __sub__(self, other):
        return self + (-other if isinstance(other, SecretTensor) else -torch.as_tensor(other, dtype=torch.float64))

    def __rsub__(self, other):
        return (-self) + other

    def _check_scale(self, other):
        if other.frac_bits != self.frac_bits:
            raise MPCError(f"adding values with {self.frac_bits} and {other.frac_bits} fractional bits")

    def sum(self, dim=None):
        return self._map(lambda t: t.sum() if dim is None else t.sum(dim))

    def __len__(self):
        return self.share.shape[0]

    def reshape(self, *shape):
        return self._map(lambda t: t.reshape(*shape))

    def t(self):
        return self._map(lambda t: t.t())

    def __getitem__(self, index):
        return self._map(lambda t: t[index])

    @staticmethod
    def cat(tensors, dim=0):
        if type(tensors[0]) is not SecretTensor:
            return type(tensors[0]).cat(tensors, dim)
        return tensors[0]._like(torch.cat([t.share for t in tensors], dim))

    # ------------------------------------------------------------ multiplication
    def __mul__(self, other):
        if isinstance(other, SecretTensor):
            return self._beaver(other, "mul")
        if isinstance(other, numbers.Integral) or (torch.is_tensor(other) and not other.is_floating_point()):
            return self._map(lambda t: t * torch.as_tensor(other, dtype=torch.int64))
        encoded = encode(other, FRAC_BITS)
        return self._map(lambda t: t * encoded, self.frac_bits + FRAC_BITS).truncate(FRAC_BITS)

    __rmul__ = __mul__

    def __matmul__(self, other):
        if isinstance(other, SecretTensor):
            return self._beaver(other, "matmul")
        encoded = encode(other, FRAC_BITS)
        return self._map(lambda t: t @ encoded, self.frac_bits + FRAC_BITS).truncate(FRAC_BITS)

    def _beaver(self, other, kind: str):
        """Beaver's trick: open e = x − a and f = y − b; then x·y = c + e·b + a·f + e·f."""
        ctx = self.ctx
        a, b, c = ctx.dealer.triple(self.shape, other.shape, kind)
        e, f = open_values(ctx, self.share - a, other.share - b, label=kind)
        op = torch.mul if kind == "mul" else torch.matmul
        z = c + op(e, b) + op(a, f)
        if ctx.rank == 0:
            z = z + op(e, f)
        return self._rescale(SecretTensor(ctx, z, self.frac_bits + other.frac_bits), other)

    def _rescale(self, product, other):
        """Truncate a fixed-point product back to one scale (integers need no truncation)."""
        if self.frac_bits and other.frac_bits:
            return product.truncate(min(self.frac_bits, other.frac_bits))
        return product

    def truncate(self, bits: int):
        """Divide by 2^bits (drop fractional bits after a fixed-point product), locally."""
        ctx = self.ctx
        if ctx.parties != 2:
            raise MPCError("local truncation is defined for two computing parties")
        if ctx.is_dealer:
            share = self.share
        elif ctx.rank == 0:
            share = self.share >> bits
        else:
            share = -((-self.share) >> bits)
        return SecretTensor(ctx, share, self.frac_bits - bits)

    # ------------------------------------------------------------ comparisons (compare.py)
    def lt_zero(self):
        """[self < 0] as a shared integer 0/1 (8 rounds)."""
        return SecretTensor(self.ctx, compare.lt_zero(self.ctx, self.share), 0)

    def __lt__(self, other):
        return (self - other).lt_zero()

    def __gt__(self, other):
        return (other - self).lt_zero() if isinstance(other, SecretTensor) else (-self + other).lt_zero()

    def relu(self):
        """max(self, 0), exact: 8 rounds."""
        return self._like(compare.relu(self.ctx, self.share))
