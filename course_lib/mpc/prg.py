"""A cryptographic pseudorandom generator: AES-256 in counter mode (chapter 07).

Shares must be *uniformly random*, and unpredictable to the other parties. Two parties that
hold the same 32-byte seed produce the same stream, which lets them agree on shares without
sending them (the "seed trick" used for input sharing and for the dealer's triples).
"""
from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import torch
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


__all__ = ["PRG", "public_seed"]

_CHUNK = 1 << 16
_ZEROS = memoryview(bytes(_CHUNK))


class PRG:
    """AES-256-CTR keystream as ring elements; ``PRG()`` seeds itself from ``os.urandom``."""

    def __init__(self, seed: bytes | None = None):
        self.seed = os.urandom(32) if seed is None else bytes(seed)
        if len(self.seed) != 32:
            raise ValueError("a PRG seed is 32 bytes")
        self._stream = Cipher(algorithms.AES(self.seed), modes.CTR(bytes(16))).encryptor()

    def random_bytes(self, n: int) -> bytes:
        return self._stream.update(bytes(n))

    def words(self, count: int) -> np.ndarray:
        """``count`` uniform 64-bit words as a numpy ``uint64`` array (the authenticated mode's rings).

        The keystream is written straight into the array, 64 KiB at a time: one large request
        would run out of cache and cost about six times as much per byte.
        """
        out = np.empty(count + 2, dtype=np.uint64)          # update_into wants 15 spare bytes
        view = memoryview(out).cast("B")
        total = 8 * count
        for start in range(0, total, _CHUNK):
            size = min(_CHUNK, total - start)
            self._stream.update_into(_ZEROS[:size], view[start:start + size + 15])
        return out[:count]

    def ring(self, shape) -> torch.Tensor:
        """Uniform elements of Z_2^64 as an int64 tensor of ``shape``."""
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        count = math.prod(shape)
        return torch.from_numpy(self.words(count).view(np.int64).copy()).reshape(shape)


def public_seed(seed, label: str) -> bytes:
    """INSECURE — for reproducible runs only: a PRG seed derived from a public ``seed`` and a label.

    Anyone who knows ``seed`` can redo this and so predict every share and mask (chapter 08).
    """
    base = (hashlib.sha256(b"course_lib mpc seed" + seed.to_bytes(16, "big", signed=True)).digest()
            if isinstance(seed, int) else bytes(seed))
    return hashlib.sha256(base + label.encode()).digest()
