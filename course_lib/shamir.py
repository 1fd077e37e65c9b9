"""Shamir's t-of-n secret sharing over a prime field (chapter 10).

A secret s becomes the constant term of a random polynomial f of degree t − 1 over the field of
integers modulo the prime P = 2^521 − 1; share i is (i, f(i)). Any t shares give f, hence
s = f(0), by Lagrange interpolation; any t − 1 shares are consistent with *every* secret, each
equally likely, so they reveal nothing (Shamir, "How to share a secret", CACM 1979). The
coefficients come from ``secrets``: this is the real scheme, not a toy. Secrets are byte strings
of up to 64 bytes (X25519 private keys and 32-byte seeds in secure aggregation), encoded as
0x01 ‖ length ‖ secret: a reconstruction from a corrupted (random) share is then refused, except
with probability about 2^-249 when the reconstructor names the length it expects (32 bytes, as
secure aggregation does), and only about 2^-9 when it does not. A holder who *chooses* its wrong share can
still shift the secret undetected: verifiable secret sharing (Feldman, FOCS 1987) detects that.
"""
from __future__ import annotations

import secrets
from typing import NamedTuple

__all__ = ["PRIME", "MAX_SECRET_BYTES", "Share", "split_secret", "reconstruct", "lagrange_at_zero"]

PRIME = 2**521 - 1                  # a Mersenne prime, larger than any 65-byte secret
MAX_SECRET_BYTES = 64


class Share(NamedTuple):
    """One point (x, f(x)) of the sharing polynomial; x is the holder's number, 1…n."""
    x: int
    y: int


def split_secret(secret: bytes, threshold: int, holders: int) -> list[Share]:
    """``holders`` shares of ``secret``, any ``threshold`` of which reconstruct it."""
    if not 1 <= threshold <= holders:
        raise ValueError(f"need 1 ≤ threshold ≤ holders, got threshold {threshold} of {holders}")
    if len(secret) > MAX_SECRET_BYTES:
        raise ValueError(f"a secret is at most {MAX_SECRET_BYTES} bytes, got {len(secret)}")
    coefficients = [int.from_bytes(b"\x01" + bytes([len(secret)]) + secret, "big")] + [secrets.randbelow(PRIME)
                                                               for _ in range(threshold - 1)]
    return [Share(x, _evaluate(coefficients, x)) for x in range(1, holders + 1)]


def _evaluate(coefficients: list[int], x: int) -> int:
    value = 0
    for coefficient in reversed(coefficients):          # Horner's rule
        value = (value * x + coefficient) % PRIME
    return value


def lagrange_at_zero(xs: list[int], prime: int = PRIME) -> list[int]:
    """The weights λ_i with f(0) = Σ λ_i · f(x_i) mod ``prime`` for any polynomial of degree < len(xs):
    λ_i = Π_{j≠i} (0 − x_j) / (x_i − x_j), each division a multiplication by a modular inverse."""
    weights = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                numerator = numerator * -xj % prime
                denominator = denominator * (xi - xj) % prime
        weights.append(numerator * pow(denominator, -1, prime) % prime)
    return weights


def reconstruct(shares, threshold: int, length: int | None = None) -> bytes:
    """The secret from at least ``threshold`` shares with distinct x (uses the first ``threshold``).

    Raises ``ValueError`` with fewer shares or repeated x: never a wrong secret from too few points.
    With ``length`` (the secret's expected size in bytes), a value of any other size is refused too.
    """
    shares = [Share(int(x), int(y)) for x, y in shares]
    xs = [share.x for share in shares]
    if len(set(xs)) != len(xs):
        raise ValueError(f"shares must come from distinct holders, got x = {sorted(xs)}")
    if len(shares) < threshold:
        raise ValueError(f"need {threshold} shares to reconstruct, got {len(shares)}")
    used = shares[:threshold]
    weights = lagrange_at_zero([share.x for share in used])
    value = sum(w * share.y for w, share in zip(weights, used)) % PRIME
    encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if (len(encoded) < 2 or encoded[0] != 1 or encoded[1] != len(encoded) - 2
            or length is not None and encoded[1] != length):
        raise ValueError("the shares do not lie on one sharing polynomial (a share is wrong or from another secret)")
    return encoded[2:]
