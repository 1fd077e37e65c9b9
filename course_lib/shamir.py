"""Shamir's t-of-n secret sharing over a prime field (chapter 10).

A secret s becomes the constant term of a random polynomial f of degree t − 1 over the field of
integers modulo the prime P = 2^521 − 1; share i is (i, f(i)). Any t shares give f, hence
s = f(0), by Lagrange interpolation; any t − 1 shares are consistent with *every* secret, each
equally likely, so they reveal nothing (Shamir, "How to share a secret", CACM 1979). The
coefficients come from ``secrets``: this is the real scheme, not a toy. Secrets are byte strings
of up to 64 bytes (X25519 private keys and 32-byte seeds in secure aggregation), encoded as
0x01 ‖ length ‖ secret.

Wrong shares. With more than t shares, :func:`reconstruct` checks that *all* of them lie on one
polynomial of degree t − 1: wrong shares, however chosen, are refused whenever t of the shares
are right, since only one such polynomial passes through those t. :func:`wrong_shares` then names
the holders whose shares are off the polynomial that all but at most ⌊(m − t)/2⌋ of the m shares
agree on (Shamir shares are a Reed–Solomon codeword, McEliece & Sarwate, CACM 1981; Berlekamp–
Welch decoding, US patent 4,633,470, 1986, finds that polynomial). With exactly t shares nothing
can be checked but the encoding: a random wrong share is refused, except with probability about
2^-249 when the reconstructor names the length it expects (32 bytes, as secure aggregation does)
and about 2^-9 when it does not, but a holder who *chooses* its share goes undetected: adding
d·λ⁻¹ to it, λ its Lagrange weight at 0, shifts the secret by d. Verifiable secret sharing
(Feldman, FOCS 1987) detects that; it is not implemented here.
"""
from __future__ import annotations

import functools
import secrets
from typing import NamedTuple

__all__ = ["PRIME", "MAX_SECRET_BYTES", "Share", "split_secret", "reconstruct", "lagrange_at_zero", "lagrange_at",
           "wrong_shares"]

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
    return lagrange_at(xs, 0, prime)


def lagrange_at(xs: list[int], at: int, prime: int = PRIME) -> list[int]:
    """The weights λ_i with f(at) = Σ λ_i · f(x_i) mod ``prime``: λ_i = Π_{j≠i} (at − x_j) / (x_i − x_j)."""
    return list(_weights(tuple(xs), at, prime))


@functools.lru_cache(maxsize=1024)
def _weights(xs: tuple[int, ...], at: int, prime: int) -> tuple[int, ...]:
    weights = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                numerator = numerator * (at - xj) % prime
                denominator = denominator * (xi - xj) % prime
        weights.append(numerator * pow(denominator, -1, prime) % prime)
    return tuple(weights)


def _off_polynomial(shares: list[Share], threshold: int) -> list[int]:
    """The x of every share after the first ``threshold`` that is not on the polynomial through those."""
    base = shares[:threshold]
    xs = [share.x for share in base]
    off = []
    for extra in shares[threshold:]:
        if sum(w * share.y for w, share in zip(_weights(tuple(xs), extra.x, PRIME), base)) % PRIME != extra.y % PRIME:
            off.append(extra.x)
    return off


def reconstruct(shares, threshold: int, length: int | None = None) -> bytes:
    """The secret from at least ``threshold`` shares with distinct x.

    Raises ``ValueError`` with fewer shares or repeated x: never a wrong secret from too few points.
    With more than ``threshold`` shares, all must lie on one polynomial of degree ``threshold`` − 1,
    or ``ValueError``. With ``length`` (the secret's expected size in bytes), a value of any other
    size is refused too. Exactly ``threshold`` shares cannot be checked against each other.
    """
    shares = [Share(int(x), int(y)) for x, y in shares]
    xs = [share.x for share in shares]
    if len(set(xs)) != len(xs):
        raise ValueError(f"shares must come from distinct holders, got x = {sorted(xs)}")
    if len(shares) < threshold:
        raise ValueError(f"need {threshold} shares to reconstruct, got {len(shares)}")
    if _off_polynomial(shares, threshold):
        raise ValueError(f"the {len(shares)} shares do not lie on one polynomial of degree {threshold - 1}: "
                         f"a share is wrong (shamir.wrong_shares tells which, if it can)")
    used = shares[:threshold]
    weights = _weights(tuple(share.x for share in used), 0, PRIME)
    value = sum(w * share.y for w, share in zip(weights, used)) % PRIME
    encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if (len(encoded) < 2 or encoded[0] != 1 or encoded[1] != len(encoded) - 2
            or length is not None and encoded[1] != length):
        raise ValueError("the shares do not lie on one sharing polynomial (a share is wrong or from another secret)")
    return encoded[2:]


def wrong_shares(shares, threshold: int) -> list[int] | None:
    """The x of the shares that are off the sharing polynomial: ``[]`` if all m lie on one of degree
    < ``threshold``; else the holders off the one polynomial that all but at most e = ⌊(m − t)/2⌋ of
    them agree on (two polynomials of degree < t that each agree with m − e points would share t
    points, so it is unique); ``None`` if there is none, and so no telling who is wrong.

    Berlekamp–Welch: find E (monic, degree e, zero at the wrong x) and Q (degree < t + e) with
    Q(x_i) = y_i · E(x_i) for every share, a linear system mod P; then f = Q / E.
    """
    shares = [Share(int(x), int(y) % PRIME) for x, y in shares]
    if len({share.x for share in shares}) != len(shares):
        raise ValueError(f"shares must come from distinct holders, got x = {sorted(share.x for share in shares)}")
    if len(shares) < threshold:
        raise ValueError(f"need {threshold} shares to check them, got {len(shares)}")
    if not _off_polynomial(shares, threshold):
        return []
    errors = (len(shares) - threshold) // 2
    if errors == 0:
        return None
    unknowns = threshold + 2 * errors               # Q's t + e coefficients, then E's e lower ones
    rows = [[pow(x, j, PRIME) for j in range(threshold + errors)] + [-y * pow(x, j, PRIME) % PRIME
                                                                       for j in range(errors)]
            + [y * pow(x, errors, PRIME) % PRIME] for x, y in shares]
    solution = _solve(rows, unknowns)
    if solution is None:
        return None
    quotient, remainder = _divide(solution[:threshold + errors], solution[threshold + errors:] + [1])
    if any(remainder) or len(quotient) > threshold:
        return None
    off = [x for x, y in shares if _evaluate(quotient, x) != y]
    return off if len(off) <= errors else None


def _solve(rows: list[list[int]], unknowns: int) -> list[int] | None:
    """One solution mod P of the linear system whose augmented rows are ``rows`` (free unknowns 0), or None."""
    rows = [row[:] for row in rows]
    pivots, r = [], 0
    for column in range(unknowns):
        pivot = next((i for i in range(r, len(rows)) if rows[i][column]), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        inverse = pow(rows[r][column], -1, PRIME)
        rows[r] = [value * inverse % PRIME for value in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][column]:
                factor = rows[i][column]
                rows[i] = [(a - factor * b) % PRIME for a, b in zip(rows[i], rows[r])]
        pivots.append(column)
        r += 1
    if any(row[-1] for row in rows[r:]):
        return None                                 # 0 = nonzero: no solution
    solution = [0] * unknowns
    for i, column in enumerate(pivots):
        solution[column] = rows[i][-1]
    return solution


def _divide(numerator: list[int], denominator: list[int]) -> tuple[list[int], list[int]]:
    """Polynomials as coefficient lists, lowest first, mod P: (quotient, remainder); ``denominator`` monic."""
    remainder = numerator[:]
    quotient = [0] * max(len(numerator) - len(denominator) + 1, 1)
    for shift in range(len(numerator) - len(denominator), -1, -1):
        factor = remainder[shift + len(denominator) - 1]
        quotient[shift] = factor
        for j, coefficient in enumerate(denominator):
            remainder[shift + j] = (remainder[shift + j] - factor * coefficient) % PRIME
    while len(quotient) > 1 and not quotient[-1]:
        quotient.pop()
    return quotient, remainder[:len(denominator) - 1]
