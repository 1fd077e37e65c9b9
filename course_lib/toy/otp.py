"""INSECURE — for learning. XOR and the one-time pad (chapter 01).

A one-time pad is perfectly secret only if the pad is truly random, as long as the message,
and **never reused**; reuse it once and ``c1 XOR c2 = m1 XOR m2`` leaks both messages.
"""
from __future__ import annotations


__all__ = ["xor_bytes", "otp_encrypt"]


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """Byte-wise XOR of two equally long byte strings."""
    if len(a) != len(b):
        raise ValueError(f"xor_bytes needs equal lengths, got {len(a)} and {len(b)}")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def otp_encrypt(pad: bytes, message: bytes) -> bytes:
    """Encrypt (or decrypt: it is the same XOR) with a one-time pad."""
    return xor_bytes(pad, message)
