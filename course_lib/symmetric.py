"""Safe symmetric encryption: AEAD with random nonces, and keys from passwords (chapter 01).

``encrypt``/``decrypt`` seal a message with AES-256-GCM (default) or ChaCha20-Poly1305. The
output is ``nonce ‖ ciphertext ‖ tag``; the 96-bit nonce is fresh from ``os.urandom`` on every
call, so callers cannot reuse one by mistake. Associated data (AD) is authenticated but not
encrypted: use it to bind metadata such as a dataset name and sample index.
"""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import DecryptionError


__all__ = ["ALGORITHMS", "KEY_SIZE", "NONCE_SIZE", "TAG_SIZE", "ARGON2ID_DEFAULTS", "SCRYPT_DEFAULTS",
           "PBKDF2_DEFAULT_ITERATIONS", "KDFS", "KDF_GPU_REFERENCE", "gpu_guesses_per_second", "SALT_SIZE",
           "new_key", "encrypt", "decrypt", "new_salt", "derive_key"]

ALGORITHMS = {"aes-256-gcm": AESGCM, "chacha20-poly1305": ChaCha20Poly1305}
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16

# Defaults follow the OWASP Password Storage Cheat Sheet, which lists Argon2id first, then scrypt,
# then PBKDF2 (for FIPS-140 settings). Its parameter sets are calibrated to cost a GPU attacker
# about the same per guess (see KDF_GPU_REFERENCE).
ARGON2ID_DEFAULTS = {"memory_cost": 19_456, "iterations": 2, "lanes": 1}    # m = 19 MiB, t = 2, p = 1
SCRYPT_DEFAULTS = {"n": 2**17, "r": 8, "p": 1}
PBKDF2_DEFAULT_ITERATIONS = 600_000
KDFS = ("argon2id", "scrypt", "pbkdf2")
# A GPU attacker's speed at the OWASP settings above: about 10,000 guesses per second per high-end GPU
# for each of them (S. Thomas, "Minimum password settings", tobtu.com, Dec 2022 — the source of OWASP's
# figures; calibrated on an RTX 4090 and an RX 7900 XTX). Cost scales linearly with iterations, N, m·t.
KDF_GPU_REFERENCE = {"guesses_per_s": 1e4, "argon2id": 19_456 * 2, "scrypt": 2**17, "pbkdf2": 600_000}


def gpu_guesses_per_second(kdf: str, cost: int) -> float:
    """Estimated guesses per second of one high-end GPU against ``kdf`` at ``cost`` (iterations, N or m·t)."""
    return KDF_GPU_REFERENCE["guesses_per_s"] * KDF_GPU_REFERENCE[kdf] / cost
SALT_SIZE = 16


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_SIZE)


def _aead(key: bytes, algorithm: str):
    try:
        cls = ALGORITHMS[algorithm]
    except KeyError:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}") from None
    if len(key) != KEY_SIZE:
        raise ValueError(f"{algorithm} needs a {KEY_SIZE}-byte key, got {len(key)} bytes")
    return cls(key)


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes = b"",
            algorithm: str = "aes-256-gcm") -> bytes:
    """Encrypt and authenticate; returns ``nonce ‖ ciphertext ‖ tag`` (28 bytes longer)."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _aead(key, algorithm).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, sealed: bytes, associated_data: bytes = b"",
            algorithm: str = "aes-256-gcm") -> bytes:
    """Verify and decrypt the output of :func:`encrypt`; raises :class:`DecryptionError`."""
    aead = _aead(key, algorithm)
    if len(sealed) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionError(f"sealed message too short ({len(sealed)} bytes): truncated?")
    try:
        return aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], associated_data)
    except InvalidTag:
        raise DecryptionError("authentication failed: wrong key, wrong associated data, "
                              "or the ciphertext was modified") from None


def new_salt() -> bytes:
    return os.urandom(SALT_SIZE)


def derive_key(password: str | bytes, salt: bytes, kdf: str = "scrypt", *, n: int | None = None,
               r: int | None = None, p: int | None = None, iterations: int | None = None,
               memory_cost: int | None = None, length: int = KEY_SIZE) -> bytes:
    """Derive a key from a password with Argon2id or scrypt (memory-hard) or PBKDF2-HMAC-SHA256 (chapter 01).

    Never use a password itself as a key: it is short and guessable. A KDF with a random salt and
    a high cost makes every guess expensive. Store the salt and parameters next to the data.
    ``iterations`` is PBKDF2's iteration count or Argon2id's t; ``memory_cost`` is Argon2id's m in KiB.
    """
    if len(salt) < SALT_SIZE:
        raise ValueError(f"use a random salt of at least {SALT_SIZE} bytes (new_salt())")
    return _derive(password, salt, kdf, n=n, r=r, p=p, iterations=iterations, memory_cost=memory_cost, length=length)


def _derive(password, salt, kdf, *, n=None, r=None, p=None, iterations=None, memory_cost=None, lanes=None,
            length=KEY_SIZE, secret=None, ad=None) -> bytes:
    """:func:`derive_key` without the salt-length rule (the published test vectors use short salts)."""
    password_bytes = password.encode() if isinstance(password, str) else bytes(password)
    if kdf == "argon2id":
        return Argon2id(salt=salt, length=length, iterations=iterations or ARGON2ID_DEFAULTS["iterations"],
                        lanes=lanes or ARGON2ID_DEFAULTS["lanes"],
                        memory_cost=memory_cost or ARGON2ID_DEFAULTS["memory_cost"],
                        secret=secret, ad=ad).derive(password_bytes)
    if kdf == "scrypt":
        params = {"n": n or SCRYPT_DEFAULTS["n"], "r": r or SCRYPT_DEFAULTS["r"], "p": p or SCRYPT_DEFAULTS["p"]}
        return Scrypt(salt=salt, length=length, **params).derive(password_bytes)
    if kdf == "pbkdf2":
        return PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt,
                          iterations=iterations or PBKDF2_DEFAULT_ITERATIONS).derive(password_bytes)
    raise ValueError(f"unknown kdf {kdf!r}; choose one of {', '.join(KDFS)}")
