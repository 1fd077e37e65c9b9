"""INSECURE — for learning. SHA-256 (FIPS 180-4) from scratch, and the length-extension attack.

The hash itself is correct (checked against FIPS 180-4 examples and ``hashlib``) but slow and
written for reading. It exposes its internal state so chapter 02 can show why the MAC
``sha256(key ‖ message)`` is broken: the digest *is* the state, so anyone can continue
hashing from it without knowing the key. HMAC (``course_lib.hashing``) is immune.
"""
from __future__ import annotations

import hashlib
import struct


__all__ = ["K", "H0", "MASK", "compress", "padding", "sha256", "naive_mac", "length_extension"]

# First 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4 §4.2.2)
K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]
# First 32 bits of the fractional parts of the square roots of the first 8 primes (§5.3.3)
H0 = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
MASK = 0xFFFFFFFF


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & MASK


def compress(state: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    """One SHA-256 compression: 8-word state + 64-byte block → new state (FIPS 180-4 §6.2.2)."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & MASK)
    a, b, c, d, e, f, g, h = state
    for t in range(64):
        t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) & MASK
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & MASK
        a, b, c, d, e, f, g, h = (t1 + t2) & MASK, a, b, c, (d + t1) & MASK, e, f, g
    return tuple((x + y) & MASK for x, y in zip(state, (a, b, c, d, e, f, g, h)))


def padding(message_length: int) -> bytes:
    """The bytes SHA-256 appends to a message of ``message_length`` bytes: 0x80, zeros, 64-bit bit length."""
    zeros = (55 - message_length) % 64
    return b"\x80" + bytes(zeros) + struct.pack(">Q", (8 * message_length) % 2**64)


def sha256(message: bytes, state: tuple[int, ...] = H0, already_hashed: int = 0) -> bytes:
    """SHA-256 of ``message``; ``state``/``already_hashed`` let it *continue* an earlier hash."""
    data = message + padding(already_hashed + len(message))
    for i in range(0, len(data), 64):
        state = compress(state, data[i:i + 64])
    return struct.pack(">8I", *state)


def naive_mac(key: bytes, message: bytes) -> bytes:
    """INSECURE — for learning. The broken MAC ``sha256(key ‖ message)``; use HMAC instead."""
    return hashlib.sha256(key + message).digest()


def length_extension(tag: bytes, message: bytes, key_length: int, suffix: bytes) -> tuple[bytes, bytes]:
    """Forge ``naive_mac(key, message ‖ glue ‖ suffix)`` from ``tag`` alone, without the key.

    Returns ``(forged_message, forged_tag)``. The attacker must know (or guess) the key length.
    """
    glue = padding(key_length + len(message))
    state = struct.unpack(">8I", tag)
    hashed = key_length + len(message) + len(glue)  # a multiple of 64
    return message + glue + suffix, sha256(suffix, state, hashed)
