"""Safe public-key recipes: hybrid encryption to an X25519 key, and Ed25519 signatures (chapter 03).

Hybrid (envelope) encryption — the idea behind HPKE (RFC 9180) and age: the sender makes a fresh
*ephemeral* X25519 key pair, agrees a shared secret with the recipient's public key, derives
an AEAD key from it with HKDF, and encrypts any amount of data with AES-256-GCM. Only the
recipient's private key can redo the agreement. The sealed format is::

    magic "CLH1" ‖ recipient key id (8 bytes) ‖ ephemeral public key (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16)

The whole header is associated data, so changing any header byte fails authentication.
"""
from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptionError, SignatureError, WrongRecipientError


__all__ = ["MAGIC", "KEY_ID_SIZE", "new_x25519_key", "new_ed25519_key", "public_bytes", "key_id",
           "HYBRID_OVERHEAD", "recipient_key_id", "hybrid_encrypt", "hybrid_decrypt", "sign", "verify"]

MAGIC = b"CLH1"
KEY_ID_SIZE = 8
_HEADER = len(MAGIC) + KEY_ID_SIZE + 32 + 12
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw

new_x25519_key = x25519.X25519PrivateKey.generate
new_ed25519_key = ed25519.Ed25519PrivateKey.generate


def public_bytes(public_key) -> bytes:
    """Raw 32-byte encoding of an X25519 or Ed25519 public key."""
    return public_key.public_bytes(*_RAW)


def key_id(public_key) -> bytes:
    """Short fingerprint of a public key: the first 8 bytes of SHA-256 of its raw bytes."""
    return hashlib.sha256(public_bytes(public_key)).digest()[:KEY_ID_SIZE]


HYBRID_OVERHEAD = _HEADER + 16   # bytes hybrid_encrypt adds to the plaintext


def recipient_key_id(sealed: bytes) -> bytes:
    """The recipient key id written in the header of :func:`hybrid_encrypt`'s output."""
    return sealed[len(MAGIC):len(MAGIC) + KEY_ID_SIZE]


def _derive_key(shared: bytes, ephemeral: bytes, recipient: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=info).derive(shared)


def hybrid_encrypt(recipient, plaintext: bytes, associated_data: bytes = b"",
                   info: bytes = b"course_lib hybrid v1") -> bytes:
    """Encrypt ``plaintext`` so that only the holder of ``recipient``'s private key can read it."""
    ephemeral = x25519.X25519PrivateKey.generate()
    ephemeral_pub, recipient_raw = public_bytes(ephemeral.public_key()), public_bytes(recipient)
    key = _derive_key(ephemeral.exchange(recipient), ephemeral_pub, recipient_raw, info)
    nonce = os.urandom(12)
    header = MAGIC + key_id(recipient) + ephemeral_pub + nonce
    return header + AESGCM(key).encrypt(nonce, plaintext, header + associated_data)


def hybrid_decrypt(private_key: x25519.X25519PrivateKey, sealed: bytes, associated_data: bytes = b"",
                   info: bytes = b"course_lib hybrid v1") -> bytes:
    """Open :func:`hybrid_encrypt`'s output; raises :class:`WrongRecipientError` or :class:`DecryptionError`."""
    if len(sealed) < _HEADER + 16 or not sealed.startswith(MAGIC):
        raise DecryptionError("not a hybrid-encrypted message (bad magic or truncated)")
    header = sealed[:_HEADER]
    recipient_id = recipient_key_id(sealed)
    ephemeral_pub, nonce = header[len(MAGIC) + KEY_ID_SIZE:-12], header[-12:]
    own = private_key.public_key()
    if recipient_id != key_id(own):
        raise WrongRecipientError(f"sealed for key id {recipient_id.hex()}, "
                                  f"but this private key has key id {key_id(own).hex()}")
    try:
        shared = private_key.exchange(x25519.X25519PublicKey.from_public_bytes(ephemeral_pub))
        key = _derive_key(shared, ephemeral_pub, public_bytes(own), info)
        return AESGCM(key).decrypt(nonce, sealed[_HEADER:], header + associated_data)
    except (InvalidTag, ValueError):
        raise DecryptionError("authentication failed: the header, associated data or ciphertext "
                              "was modified") from None


def sign(private_key: ed25519.Ed25519PrivateKey, message: bytes) -> bytes:
    """Ed25519 signature (RFC 8032), 64 bytes."""
    return private_key.sign(message)


def verify(public_key: ed25519.Ed25519PublicKey, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature; raises :class:`SignatureError` if it does not verify."""
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        raise SignatureError(f"signature does not verify under key id {key_id(public_key).hex()}: "
                             "wrong key, or the signed data was modified") from None
