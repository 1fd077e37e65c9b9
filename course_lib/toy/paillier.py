"""INSECURE — for learning. Paillier's additively homomorphic encryption from scratch (chapter 11).

Paillier (EUROCRYPT 1999): with n = p·q, a message m ∈ Z_n encrypts to c = (1 + n)^m · r^n mod n²
for a random r. Multiplying ciphertexts adds the messages; raising a ciphertext to a constant k
multiplies its message by k. Nobody can multiply two *encrypted* messages: that would need a
ring homomorphism, which Paillier is not.

Why a toy: small keys for speed (the course's default 1024-bit n gives about 80-bit security;
NIST SP 800-57 asks for 3072 bits for 128-bit security), no side-channel protection, no
ciphertext checks. Signed integers are encoded mod n, the upper half standing for negatives.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from .rsa import random_prime

__all__ = ["PublicKey", "PrivateKey", "generate", "encrypt", "decrypt", "add", "add_plain", "multiply_plain",
           "ciphertext_bytes"]


@dataclass(frozen=True)
class PublicKey:
    n: int

    @property
    def n_squared(self) -> int:
        return self.n * self.n


@dataclass(frozen=True)
class PrivateKey:
    public: PublicKey
    lam: int            # λ = lcm(p − 1, q − 1)
    mu: int             # μ = λ⁻¹ mod n


def generate(bits: int = 1024) -> PrivateKey:
    """A key pair with an n of ``bits`` bits (two primes of bits/2)."""
    while True:
        p, q = random_prime(bits // 2), random_prime(bits // 2)
        n = p * q
        if p != q and n.bit_length() == bits and math.gcd(n, (p - 1) * (q - 1)) == 1:
            lam = math.lcm(p - 1, q - 1)
            return PrivateKey(PublicKey(n), lam, pow(lam, -1, n))


def encrypt(public: PublicKey, m: int, r: int | None = None) -> int:
    """E(m) = (1 + n)^m · r^n mod n², with (1 + n)^m = 1 + m·n mod n²; a fresh random r each time."""
    n, n2 = public.n, public.n_squared
    if not -(n // 2) <= m <= n // 2:
        raise ValueError(f"a message must lie in [−n/2, n/2] for this {n.bit_length()}-bit key")
    if r is None:
        r = secrets.randbelow(n - 1) + 1
    return (1 + (m % n) * n) * pow(r, n, n2) % n2


def decrypt(private: PrivateKey, c: int) -> int:
    """m = L(c^λ mod n²) · μ mod n with L(x) = (x − 1) / n, read as a signed integer."""
    n = private.public.n
    m = (pow(c, private.lam, private.public.n_squared) - 1) // n * private.mu % n
    return m - n if m > n // 2 else m


def add(public: PublicKey, c1: int, c2: int) -> int:
    """E(a) · E(b) = E(a + b): addition of two encrypted messages."""
    return c1 * c2 % public.n_squared


def add_plain(public: PublicKey, c: int, k: int) -> int:
    """E(a) · (1 + n)^k = E(a + k): adding a public constant."""
    return c * (1 + (k % public.n) * public.n) % public.n_squared


def multiply_plain(public: PublicKey, c: int, k: int) -> int:
    """E(a)^k = E(k · a): multiplication by a public constant (negative k through its inverse)."""
    return pow(c, k % public.n, public.n_squared)


def ciphertext_bytes(public: PublicKey) -> int:
    """Bytes of one ciphertext: an element of Z_{n²}, twice the key size."""
    return (public.n_squared.bit_length() + 7) // 8
