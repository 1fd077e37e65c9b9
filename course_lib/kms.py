"""A local stand-in for a key-management service, for envelope encryption (chapters 04 and 06).

STAND-IN, NOT A KMS: its keys live in this Python process's memory, so anyone who can read the
process can read them. It has the *shape* of a cloud KMS (AWS KMS, Google Cloud KMS, Azure Key
Vault) so the course can show how real systems use one:

* a **key-encryption key** (KEK) has a name and numbered **versions**; it never leaves the KMS.
  Callers send it a data key (or ask it to make one) and get back a wrapped blob that names the
  KEK and version (``GenerateDataKey``/``Encrypt``/``Decrypt``);
* every call carries an **encryption context** (associated data): a blob unwrapped under another
  context is refused, so a wrapped key cannot be moved to another file;
* **rotation** adds a new primary version; old versions still decrypt, so nothing breaks, and
  :meth:`LocalKMS.re_encrypt` moves a blob to the primary version without the caller seeing the key;
* **disabling** a version refuses its blobs until it is enabled again; **destroying** it makes
  every data key wrapped only under it unrecoverable — which is what a lost key means;
* every operation is written to an **audit log**.

Wrapped blob: ``"KMS1" ‖ name length (1) ‖ name ‖ version (4) ‖ nonce (12) ‖ AES-GCM(data key) ‖ tag (16)``.
"""
from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError, KeyManagementError

__all__ = ["LocalKMS", "MAGIC", "MAX_NAME", "blob_key_name"]

MAGIC = b"KMS1"
MAX_NAME = 64
_STATES = ("enabled", "disabled", "destroyed")


def blob_key_name(blob: bytes) -> tuple[str, int]:
    """(KEK name, version) written in a wrapped blob (unauthenticated: for display and routing)."""
    if len(blob) < 5 or not blob.startswith(MAGIC) or len(blob) < 5 + blob[4] + 4:
        raise KeyManagementError("not a wrapped key from this KMS")
    n = blob[4]
    try:
        name = blob[5:5 + n].decode("ascii")
    except UnicodeDecodeError:
        raise KeyManagementError("not a wrapped key from this KMS (bad key name)") from None
    (version,) = struct.unpack(">I", blob[5 + n:9 + n])
    return name, version


class LocalKMS:
    """STAND-IN for a cloud KMS (keys in process memory). See the module docstring."""

    def __init__(self):
        self._keys: dict[str, dict[int, bytes | None]] = {}
        self._state: dict[str, dict[int, str]] = {}
        self.audit_log: list[tuple[str, str, int]] = []

    # -- key lifecycle
    def create_key(self, name: str) -> str:
        if not name.isascii() or not 1 <= len(name) <= MAX_NAME or name in self._keys:
            raise KeyManagementError(f"key name must be new ASCII of 1..{MAX_NAME} characters: {name!r}")
        self._keys[name], self._state[name] = {}, {}
        self.rotate(name)
        return name

    def rotate(self, name: str) -> int:
        """Make a new primary version of KEK ``name``; older versions keep decrypting."""
        versions = self._versions(name)
        version = max(versions, default=0) + 1
        versions[version] = AESGCM.generate_key(256)
        self._state[name][version] = "enabled"
        self._log("rotate", name, version)
        return version

    def primary(self, name: str) -> int:
        return max(self._versions(name))

    def versions(self, name: str) -> dict[int, str]:
        """Every version of ``name`` and its state."""
        self._versions(name)
        return dict(self._state[name])

    def disable(self, name: str, version: int) -> None:
        self._set_state(name, version, "disabled")

    def enable(self, name: str, version: int) -> None:
        self._set_state(name, version, "enabled")

    def destroy(self, name: str, version: int) -> None:
        """Delete the key material of one version for good: its blobs can never be opened again."""
        self._set_state(name, version, "destroyed")
        self._keys[name][version] = None

    # -- cryptographic operations
    def generate_data_key(self, name: str, context: bytes = b"") -> tuple[bytes, bytes]:
        """A fresh 256-bit data key and its wrapped blob (like AWS KMS ``GenerateDataKey``)."""
        data_key = os.urandom(32)
        return data_key, self.encrypt(name, data_key, context)

    def encrypt(self, name: str, plaintext: bytes, context: bytes = b"") -> bytes:
        """Wrap ``plaintext`` (a data key) under the primary version of ``name``."""
        version = self.primary(name)
        key = self._usable(name, version)
        prefix = MAGIC + bytes([len(name)]) + name.encode() + struct.pack(">I", version)
        nonce = os.urandom(12)
        self._log("encrypt", name, version)
        return prefix + nonce + AESGCM(key).encrypt(nonce, plaintext, prefix + context)

    def decrypt(self, blob: bytes, context: bytes = b"") -> bytes:
        """Unwrap a blob; refuses disabled or destroyed versions and a wrong context."""
        name, version = blob_key_name(blob)
        key = self._usable(name, version)
        split = 5 + len(name) + 4
        self._log("decrypt", name, version)
        try:
            return AESGCM(key).decrypt(blob[split:split + 12], blob[split + 12:], blob[:split] + context)
        except InvalidTag:
            raise DecryptionError(f"KMS key {name} v{version} cannot unwrap this blob: wrong encryption "
                                  "context, or the blob was modified") from None

    def re_encrypt(self, blob: bytes, context: bytes = b"") -> bytes:
        """Re-wrap under the primary version (after a rotation); the data key never leaves the KMS."""
        name, _ = blob_key_name(blob)
        return self.encrypt(name, self.decrypt(blob, context), context)

    # -- helpers
    def _versions(self, name: str) -> dict[int, bytes | None]:
        if name not in self._keys:
            raise KeyManagementError(f"no key named {name!r} in this KMS")
        return self._keys[name]

    def _usable(self, name: str, version: int) -> bytes:
        versions = self._versions(name)
        if version not in versions:
            raise KeyManagementError(f"KMS key {name} has no version {version}")
        state = self._state[name][version]
        if state != "enabled":
            self._log(f"refused ({state})", name, version)
            raise KeyManagementError(f"KMS key {name} v{version} is {state}")
        return versions[version]

    def _set_state(self, name: str, version: int, state: str) -> None:
        if version not in self._versions(name):
            raise KeyManagementError(f"KMS key {name} has no version {version}")
        if self._state[name][version] == "destroyed":
            raise KeyManagementError(f"KMS key {name} v{version} is destroyed; it cannot be {state}")
        self._state[name][version] = state
        self._log(state, name, version)

    def _log(self, operation: str, name: str, version: int) -> None:
        self.audit_log.append((operation, name, version))

    def __repr__(self) -> str:
        return f"LocalKMS(keys={sorted(self._keys)}) — a stand-in; its keys live in this process"
