"""The ring Z_2^128 as pairs of 64-bit limbs, vectorised with numpy (chapter 08's SPDZ2k MACs).

An element is lo + 2^64·hi with ``lo`` and ``hi`` numpy ``uint64`` arrays of the same shape;
numpy's uint64 arithmetic wraps around, which is arithmetic modulo 2^64 on each limb, and
carries between the limbs are computed explicitly. SPDZ2k with k = s = 64 keeps the value in
``lo`` and the s bits that catch a cheater in ``hi``, so a partial opening sends ``lo`` alone.

Why limbs and not Python integers: the authenticated products multiply a public 64-bit matrix by a
shared 128-bit one. Split into 16-bit pieces, that is one float64 matrix product whose
entries stay below 2^53 (exact), then a few carries; numpy object arrays of Python integers do
the same work one element at a time, about a hundred times slower (``course_tools.bench``,
``mpc_inference``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["Wide", "mul_full", "to_int", "from_int"]

_LOW32 = np.uint64(0xFFFFFFFF)
_LIMB = 16                                   # bits per piece in the float64 products
_PIECES = 64 // _LIMB
_EXACT = 2 ** (53 - 2 * _LIMB)               # inner dimensions up to this keep every float64 sum exact


def mul_full(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The full 128-bit products of uint64 arrays, elementwise (broadcasting): (low limb, high limb)."""
    with np.errstate(over="ignore"):
        return _mul_full(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))


def _mul_full(a, b):
    a0, a1 = a & _LOW32, a >> np.uint64(32)
    b0, b1 = b & _LOW32, b >> np.uint64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> np.uint64(32)) + (p01 & _LOW32) + (p10 & _LOW32)
    return a * b, p11 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (middle >> np.uint64(32))


def _pieces(words: np.ndarray) -> list[np.ndarray]:
    """uint64 words as four 16-bit pieces, float64 (exact)."""
    mask = np.uint64((1 << _LIMB) - 1)
    return [((words >> np.uint64(_LIMB * i)) & mask).astype(np.float64) for i in range(_PIECES)]


class Wide:
    """Elements of Z_2^128: ``lo + 2^64·hi`` (uint64 arrays of one shape)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None):
        self.lo = np.asarray(lo, dtype=np.uint64)
        self.hi = np.zeros_like(self.lo) if hi is None else np.asarray(hi, dtype=np.uint64)

    # ------------------------------------------------------------ making elements
    @classmethod
    def zeros(cls, shape) -> "Wide":
        return cls(np.zeros(shape, dtype=np.uint64))

    @classmethod
    def random(cls, prg, shape) -> "Wide":
        """Uniform elements drawn from a :class:`~course_lib.mpc.prg.PRG` (16 bytes each)."""
        words = prg.words(2 * math.prod(shape)).reshape(2, *shape)
        return cls(words[0], words[1])

    # ------------------------------------------------------------ ring operations
    def __add__(self, other: "Wide") -> "Wide":
        lo = self.lo + other.lo
        return Wide(lo, self.hi + other.hi + (lo < self.lo))

    def __sub__(self, other: "Wide") -> "Wide":
        return Wide(self.lo - other.lo, self.hi - other.hi - (self.lo < other.lo))

    def __neg__(self) -> "Wide":
        return Wide.zeros(self.shape) - self

    def scale(self, c) -> "Wide":
        """c · self for uint64 ``c`` (an array that broadcasts, or a scalar) read as an element of [0, 2^64)."""
        c = np.asarray(c, dtype=np.uint64)
        lo, carry = mul_full(c, self.lo)
        return Wide(lo, carry + c * self.hi)

    def shift_up(self) -> "Wide":
        """2^64 · self: the low limb moves up, the high limb falls off."""
        return Wide(np.zeros_like(self.lo), self.lo)

    def matmul_left(self, public: np.ndarray) -> "Wide":
        """public @ self for a uint64 matrix ``public`` (m × n) and self (n × p), modulo 2^128."""
        if public.shape[-1] > _EXACT:
            raise ValueError(f"inner dimension {public.shape[-1]} exceeds {_EXACT}, where float64 sums stay exact")
        m, n = public.shape
        p = self.lo.shape[-1]
        stacked = np.concatenate(_pieces(public), axis=0)                                # (4m, n)
        limbs = np.concatenate(_pieces(self.lo) + _pieces(self.hi), axis=1)             # (n, 8p)
        # torch's float64 product: it keeps to the thread count each party sets (numpy's BLAS would not)
        products = (torch.from_numpy(stacked) @ torch.from_numpy(limbs)).numpy().astype(np.uint64)
        products = products.reshape(_PIECES, m, 2 * _PIECES, p)
        out = Wide.zeros((m, p))
        for place in range(2 * _PIECES):                                     # the 16-bit place of the sum
            total = sum(products[i, :, place - i] for i in range(_PIECES) if 0 <= place - i < 2 * _PIECES)
            out = out + _at_place(total, _LIMB * place)
        return out

    def matmul_right(self, public: np.ndarray) -> "Wide":
        """self @ public for self (m × n) and a uint64 matrix ``public`` (n × p), modulo 2^128."""
        return self.t().matmul_left(np.ascontiguousarray(public.T)).t()

    # ------------------------------------------------------------ shapes (both limbs alike)
    @property
    def shape(self):
        return self.lo.shape

    def _both(self, fn) -> "Wide":
        return Wide(fn(self.lo), fn(self.hi))

    def reshape(self, *shape) -> "Wide":
        return self._both(lambda a: a.reshape(*shape))

    def t(self) -> "Wide":
        return self._both(lambda a: np.ascontiguousarray(a.T))

    def __getitem__(self, index) -> "Wide":
        return self._both(lambda a: a[index])

    def broadcast_to(self, shape) -> "Wide":
        return self._both(lambda a: np.broadcast_to(a, shape).copy())

    def sum(self, axis=None) -> "Wide":
        """Sum along ``axis`` (all elements when None), modulo 2^128."""
        lo = self.lo if axis is not None else self.lo.reshape(-1)
        hi = self.hi if axis is not None else self.hi.reshape(-1)
        axis = 0 if axis is None else axis
        halves = [((lo >> np.uint64(32 * j)) & _LOW32).sum(axis=axis, dtype=np.uint64) for j in range(2)]
        # each half's sum stays exact below 2^64 for up to 2^32 terms
        low = Wide(halves[0]) + Wide(halves[1] << np.uint64(32), halves[1] >> np.uint64(32))
        return low + Wide(np.zeros_like(low.lo), hi.sum(axis=axis, dtype=np.uint64))

    @staticmethod
    def cat(parts, axis=0) -> "Wide":
        return Wide(np.concatenate([p.lo for p in parts], axis), np.concatenate([p.hi for p in parts], axis))

    def copy(self) -> "Wide":
        return Wide(self.lo.copy(), self.hi.copy())

    clone = copy                               # the name torch tensors use, so programs run on both share types


def _at_place(total: np.ndarray, bits: int) -> Wide:
    """total · 2^bits as an element of Z_2^128 (total < 2^64, 0 ≤ bits < 128)."""
    if bits == 0:
        return Wide(total)
    if bits < 64:
        return Wide(total << np.uint64(bits), total >> np.uint64(64 - bits))
    return Wide(np.zeros_like(total), total << np.uint64(bits - 64))


def to_int(x: Wide) -> list:
    """Python integers in [0, 2^128), for tests (nested like the array)."""
    flat = [int(lo) + (int(hi) << 64) for lo, hi in zip(x.lo.reshape(-1).tolist(), x.hi.reshape(-1).tolist())]
    return np.array(flat, dtype=object).reshape(x.shape).tolist() if x.shape else flat[0]


def from_int(values) -> Wide:
    """Python integers (any sign, taken modulo 2^128) as a :class:`Wide`, for tests."""
    array = np.array(values, dtype=object)
    reduced = [v % 2**128 for v in array.reshape(-1).tolist()]
    lo = np.array([v & (2**64 - 1) for v in reduced], dtype=np.uint64).reshape(array.shape)
    hi = np.array([v >> 64 for v in reduced], dtype=np.uint64).reshape(array.shape)
    return Wide(lo, hi)
