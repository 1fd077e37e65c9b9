"""INSECURE — for learning. Textbook RSA from scratch: primes, keys, encrypt, sign (chapter 03).

"Textbook" means no padding: encryption is ``m^e mod n``. That is deterministic (equal messages
give equal ciphertexts, so an attacker can test guesses) and malleable (``E(a)·E(b) = E(a·b)``).
Real systems use RSA-OAEP for encryption and RSA-PSS for signatures (``cryptography``).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass


__all__ = ["is_probable_prime", "random_prime", "egcd", "modinv", "PublicKey", "PrivateKey", "key_from_primes",
           "generate", "encrypt", "decrypt", "sign", "verify"]

_SMALL_PRIMES = [p for p in range(3, 1000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def is_probable_prime(n: int, rounds: int = 40) -> bool:
    """Miller–Rabin with ``rounds`` random bases: a composite passes with probability ≤ 4^-rounds."""
    if n < 2:
        return False
    for p in [2] + _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(bits: int) -> int:
    """A random prime of exactly ``bits`` bits (top two bits set, so p·q has 2·bits bits)."""
    if bits < 8:
        raise ValueError("use at least 8-bit primes")
    while True:
        candidate = secrets.randbits(bits) | (0b11 << (bits - 2)) | 1
        if is_probable_prime(candidate):
            return candidate


def egcd(a: int, b: int) -> tuple[int, int, int]:
    """Extended Euclid: ``(g, x, y)`` with ``a·x + b·y = g = gcd(a, b)``."""
    x0, x1, y0, y1 = 1, 0, 0, 1
    while b:
        q, a, b = a // b, b, a % b
        x0, x1 = x1, x0 - q * x1
        y0, y1 = y1, y0 - q * y1
    return a, x0, y0


def modinv(a: int, m: int) -> int:
    """The inverse of ``a`` modulo ``m``; raises ``ValueError`` if none exists."""
    g, x, _ = egcd(a % m, m)
    if g != 1:
        raise ValueError(f"{a} has no inverse modulo {m}")
    return x % m


@dataclass(frozen=True)
class PublicKey:
    n: int
    e: int


@dataclass(frozen=True, repr=False)
class PrivateKey:
    n: int
    e: int
    d: int
    p: int
    q: int

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.n, self.e)

    def __repr__(self) -> str:  # never print the secret parts
        return f"PrivateKey(n={self.n.bit_length()} bits, e={self.e}, d=<secret>)"


def key_from_primes(p: int, q: int, e: int = 65537) -> PrivateKey:
    """RSA key from two primes: n = p·q, d = e⁻¹ mod λ(n) with λ(n) = lcm(p−1, q−1)."""
    if p == q:
        raise ValueError("p and q must differ")
    lam = (p - 1) * (q - 1) // egcd(p - 1, q - 1)[0]
    return PrivateKey(p * q, e, modinv(e, lam), p, q)


def generate(bits: int = 2048, e: int = 65537) -> PrivateKey:
    """A textbook RSA key with a ``bits``-bit modulus."""
    while True:
        p, q = random_prime(bits // 2), random_prime(bits - bits // 2)
        try:
            key = key_from_primes(p, q, e)
        except ValueError:  # e not invertible, or p == q: draw again
            continue
        if key.n.bit_length() == bits:
            return key


def encrypt(public: PublicKey, m: int) -> int:
    """Textbook RSA: c = m^e mod n. Deterministic and malleable."""
    if not 0 <= m < public.n:
        raise ValueError("message must be an integer in [0, n)")
    return pow(m, public.e, public.n)


def decrypt(private: PrivateKey, c: int) -> int:
    """m = c^d mod n."""
    return pow(c, private.d, private.n)


def sign(private: PrivateKey, m: int) -> int:
    """Textbook signature s = m^d mod n (no hashing, no padding: forgeable)."""
    return pow(m, private.d, private.n)


def verify(public: PublicKey, m: int, s: int) -> bool:
    return pow(s, public.e, public.n) == m % public.n
