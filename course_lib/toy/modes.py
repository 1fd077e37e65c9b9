"""INSECURE — for learning. Block-cipher modes built by hand on a raw AES block (chapter 01).

``RawAES`` exposes the bare AES block function (from ``cryptography``, or the pure-Python
``ToyAES``); ``ecb_*``, ``cbc_*`` and ``ctr_*`` turn it into encryption of whole messages the
way NIST SP 800-38A defines. None of them authenticates anything: real code uses AEAD
(``course_lib.symmetric``).
"""
from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..errors import PaddingError
from .otp import xor_bytes


__all__ = ["BLOCK", "RawAES", "pkcs7_pad", "pkcs7_unpad", "ecb_encrypt", "ecb_decrypt", "cbc_encrypt",
           "cbc_decrypt", "ctr_keystream", "ctr_encrypt", "ctr_decrypt"]

BLOCK = 16


class RawAES:
    """INSECURE — for learning. The raw AES block function (one block at a time) via OpenSSL."""

    block_size = BLOCK

    def __init__(self, key: bytes):
        cipher = Cipher(algorithms.AES(key), modes.ECB())
        self._enc, self._dec = cipher.encryptor(), cipher.decryptor()

    def encrypt_block(self, block: bytes) -> bytes:
        if len(block) != BLOCK:
            raise ValueError("AES works on 16-byte blocks")
        return self._enc.update(block)

    def decrypt_block(self, block: bytes) -> bytes:
        if len(block) != BLOCK:
            raise ValueError("AES works on 16-byte blocks")
        return self._dec.update(block)


def pkcs7_pad(data: bytes, block_size: int = BLOCK) -> bytes:
    """Append n bytes of value n (1 ≤ n ≤ block_size) so the length is a multiple of the block."""
    n = block_size - len(data) % block_size
    return data + bytes([n]) * n


def pkcs7_unpad(padded: bytes, block_size: int = BLOCK) -> bytes:
    """Remove PKCS#7 padding, validating it; raises :class:`PaddingError` if malformed."""
    if not padded or len(padded) % block_size:
        raise PaddingError(f"padded length {len(padded)} is not a positive multiple of {block_size}")
    n = padded[-1]
    if not 1 <= n <= block_size or padded[-n:] != bytes([n]) * n:
        raise PaddingError("invalid PKCS#7 padding")
    return padded[:-n]


def _blocks(data: bytes):
    if len(data) % BLOCK:
        raise ValueError(f"length {len(data)} is not a multiple of {BLOCK}")
    return [data[i:i + BLOCK] for i in range(0, len(data), BLOCK)]


def ecb_encrypt(cipher, plaintext: bytes) -> bytes:
    """ECB: every block encrypted independently — equal blocks give equal ciphertext."""
    return b"".join(cipher.encrypt_block(b) for b in _blocks(plaintext))


def ecb_decrypt(cipher, ciphertext: bytes) -> bytes:
    return b"".join(cipher.decrypt_block(b) for b in _blocks(ciphertext))


def cbc_encrypt(cipher, iv: bytes, plaintext: bytes) -> bytes:
    """CBC: each block is XORed with the previous ciphertext block (the IV for the first)."""
    previous, out = iv, []
    for block in _blocks(plaintext):
        previous = cipher.encrypt_block(xor_bytes(block, previous))
        out.append(previous)
    return b"".join(out)


def cbc_decrypt(cipher, iv: bytes, ciphertext: bytes) -> bytes:
    previous, out = iv, []
    for block in _blocks(ciphertext):
        out.append(xor_bytes(cipher.decrypt_block(block), previous))
        previous = block
    return b"".join(out)


def ctr_keystream(cipher, counter_block: bytes, length: int) -> bytes:
    """Encrypt counter_block, counter_block+1, ... (a 128-bit big-endian counter)."""
    counter = int.from_bytes(counter_block, "big")
    blocks = -(-length // BLOCK)
    stream = b"".join(cipher.encrypt_block(((counter + i) % (1 << 128)).to_bytes(BLOCK, "big"))
                      for i in range(blocks))
    return stream[:length]


def ctr_encrypt(cipher, counter_block: bytes, data: bytes) -> bytes:
    """CTR: XOR with a keystream of encrypted counters; decryption is the same operation."""
    return xor_bytes(data, ctr_keystream(cipher, counter_block, len(data)))


ctr_decrypt = ctr_encrypt
