"""The course's encrypted container: chunked streaming AEAD with wrapped keys (chapters 04–06).

In the spirit of Tink's streaming AEAD and age's STREAM construction. Layout::

    fixed header   magic "CLDC" | version (1) | algorithm (1) | chunk size (4) | salt (32)
    key stanzas    count (2) | per stanza: type (1) | length (2) | body
    header MAC     HMAC-SHA-256 over fixed header ‖ stanzas, key derived from the data key (32)
    chunks         ciphertext ‖ tag (16), every chunk but the last exactly `chunk size` bytes of plaintext

* A random 256-bit **data key** encrypts the file. Each stanza wraps it for one recipient: an
  X25519 public key (``pubkey.hybrid_encrypt`` of chapter 03, bound to the header), a KMS key
  (``course_lib.kms``), or a password (scrypt). As in age, a password stanza must be the only one.
* **Encryption to a public key authenticates nothing**: anyone who knows the public key can
  write a container that opens. So a reader takes a :class:`~course_lib.release.Pin` and accepts
  a container only with a statement signed by the pinned signer that names its fixed-header
  digest and the SHA-256 of its body (a detached ``<file>.sig``). Re-wrapping changes neither,
  so the statement survives it. The reader hashes the body through the descriptor it then
  decrypts from, remembers every chunk's tag, and refuses a chunk whose tag changed later.
  A statement that names a recipient is accepted only by that recipient (:func:`holder_id`); for a
  KMS, a password or a data key, who the recipient is rests on the reader's own ``recipient=``.
  A worker process re-opens the file with a :class:`Binding`: the whole encoded header (stanzas
  and MAC), a commitment to the data key, and every chunk's tag.
  One gap is left open on purpose: someone who holds the *data key* and can write the file
  after it was opened could craft a replacement chunk with the same GCM tag (GHASH is linear in
  a key they know). Closing it means hashing every chunk again on every read, which costs more
  than decrypting it; ``EncryptedDataset.audit`` re-checks every record against the signed root.
* **Nothing unauthenticated drives resource use**: scrypt is fixed at r = 8, p = 1 with
  log2 N ≤ ``MAX_SCRYPT_LOG2N``; chunk size, stanza count and statement size are capped; every
  limit is checked while parsing, before any key derivation.
* The **per-file key** is HKDF(data key, salt, "payload" ‖ SHA-256(fixed header)); every chunk's
  associated data is SHA-256(fixed header), so chunks cannot move between files or survive a
  header change. The stanzas are authenticated by the header MAC, so re-wrapping the data key
  for other recipients rewrites only the header: the chunks stay as they are.
* **Chunk nonce** = 11-byte big-endian chunk index ‖ last-chunk flag. Reordering, truncation at a
  chunk boundary and appended chunks all fail authentication, each with its own error.
* Writes go to a temporary file that is renamed into place only when complete; decryption to
  a file happens the same way, so no partial plaintext is ever left on disk.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import (ChunkAuthenticationError, ContainerFormatError, DecryptionError, ExtendedError,
                     HeaderAuthenticationError, KeyManagementError, NotARecipientError, ReleaseMismatchError,
                     TruncatedError, UnsignedError, WrongKeyError, WrongPasswordError)
from .files import AtomicFile, write_atomic
from .kms import MAX_NAME as KMS_MAX_NAME, LocalKMS, blob_key_name
from .pubkey import HYBRID_OVERHEAD, hybrid_decrypt, hybrid_encrypt, key_id, recipient_key_id
from .release import Pin, Release, check_recipient, read_statement, statement_path


__all__ = ["MAGIC", "VERSION", "ALGORITHMS", "FIXED_HEADER", "TAG", "DEFAULT_CHUNK_SIZE", "MAX_CHUNK_SIZE",
           "MAX_STANZAS", "STANZA_X25519", "STANZA_SCRYPT", "STANZA_KMS", "adjacent_runs", "chunk_nonce", "chunk_nonces", "RowViews", "Stanza",
           "Header",
           "read_header", "holder_id", "Binding", "ContainerWriter", "ContainerReader", "encrypt_bytes",
           "encrypt_bytes_signed", "decrypt_bytes", "encrypt_file", "decrypt_file", "recipients", "rewrap"]

MAGIC, VERSION = b"CLDC", 1
ALGORITHMS = {1: ("aes-256-gcm", AESGCM), 2: ("chacha20-poly1305", ChaCha20Poly1305)}
ALGORITHM_IDS = {name: number for number, (name, _) in ALGORITHMS.items()}
FIXED_HEADER = struct.Struct(">4sBBI32s")
TAG = 16
NONCE = 12
DEFAULT_CHUNK_SIZE = 64 * 1024
# Limits checked while parsing, before anything expensive (a reader allocates at most one chunk).
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_STANZAS = 32
# A batched read stages ciphertext in loads of at most this size (a core's L2 cache on the reference
# machine), so that each load is decrypted while it is still in cache.
STAGING_BYTES = 1 << 20
STANZA_X25519, STANZA_SCRYPT, STANZA_KMS = 1, 2, 3
_STANZA_KINDS = {STANZA_X25519: "x25519", STANZA_SCRYPT: "scrypt", STANZA_KMS: "kms"}
SCRYPT_R, SCRYPT_P = 8, 1                       # fixed: only N is a parameter
MIN_SCRYPT_LOG2N, DEFAULT_SCRYPT_LOG2N, MAX_SCRYPT_LOG2N = 10, 17, 18   # 2^18 · 1 KiB = 256 MiB at most
_ZERO_NONCE = bytes(12)
_X25519_WRAP_INFO = b"CLDC v1 x25519 wrap"
_X25519_STANZA_SIZE = HYBRID_OVERHEAD + 32       # a hybrid-encrypted 32-byte data key
_SCRYPT_STANZA_SIZE = 16 + 3 + 32 + TAG          # salt, cost parameters, wrapped data key
_KMS_STANZA_SIZES = range(4 + 1 + 1 + 4 + 12 + 32 + TAG, 4 + 1 + KMS_MAX_NAME + 4 + 12 + 32 + TAG + 1)


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def adjacent_runs(indices) -> list[tuple[int, int]]:
    """``(start, end)`` positions of the runs of consecutive numbers in sorted ``indices``:
    ``[3, 4, 5, 9]`` gives ``[(0, 3), (3, 4)]`` (chunks 3–5 are read with one system call)."""
    if not len(indices):
        return []
    breaks = (np.flatnonzero(np.diff(indices) != 1) + 1).tolist()
    return list(zip([0, *breaks], [*breaks, len(indices)]))


def _pieces(indices, limit: int) -> list[tuple[int, int]]:
    """``adjacent_runs``, also cut where every ``limit``-th position begins (a staging load)."""
    return [(max(start, cut), min(end, cut + limit)) for start, end in adjacent_runs(indices)
            for cut in range(start - start % limit, end, limit)]


class RowViews:
    """Memoryviews of the first ``width`` bytes of each row of a C-contiguous 2-D uint8 buffer,
    for the batched reads of chapter 04. They are made once per buffer (they keep it alive) and
    reused by later batches: making 128 of them costs more per batch than the loop that uses them.
    Each call returns a new list, which the caller may change."""

    def __init__(self, width: int):
        self.width, self._key, self._views = width, None, []

    def __call__(self, buffer) -> list:
        key = (buffer.ctypes.data, buffer.strides[0])
        if key != self._key or len(self._views) < len(buffer):
            flat, step, width = memoryview(buffer).cast("B"), buffer.strides[0], self.width
            self._key, self._views = key, [flat[k * step:k * step + width] for k in range(len(buffer))]
        return self._views[:len(buffer)]


def _about_chunk(error: Exception, index: int) -> Exception:
    """``error``, tagged with the number of the chunk it is about (``error.chunk``)."""
    error.chunk = index
    return error


def _rewritten(index: int) -> ReleaseMismatchError:
    return _about_chunk(ReleaseMismatchError(f"chunk {index} was rewritten after the file was verified "
                                             "(by someone holding the data key)"), index)


def _truncated(index: int) -> TruncatedError:
    return TruncatedError(f"file ends inside chunk {index}: truncated")


def chunk_nonce(index: int, last: bool) -> bytes:
    """11-byte big-endian chunk counter followed by the last-chunk flag (STREAM)."""
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


_NONCE_LAYOUT = np.dtype([("zeros", "V3"), ("index", ">u8"), ("last", "u1")])    # chunk_nonce's bytes


def chunk_nonces(indices, last_index: int) -> list:
    """``chunk_nonce`` for many increasing chunk numbers at once (the batched read's nonces)."""
    indices = np.asarray(indices)
    nonces = np.zeros(len(indices), dtype=_NONCE_LAYOUT)
    nonces["index"], nonces["last"] = indices, indices == last_index
    return nonces.view(f"V{NONCE}").tolist()


# ---------------------------------------------------------------- header
@dataclass(frozen=True)
class Stanza:
    """One wrapped copy of the data key. ``kind`` is ``"x25519"``, ``"kms"`` or ``"scrypt"``."""
    kind: str
    body: bytes

    @property
    def key_id(self) -> bytes | None:
        return recipient_key_id(self.body) if self.kind == "x25519" else None

    def describe(self) -> str:
        if self.kind == "x25519":
            return f"x25519 key id {self.key_id.hex()}"
        if self.kind == "kms":
            name, version = blob_key_name(self.body)
            return f"kms key {name} v{version}"
        return "password"

    def encode(self) -> bytes:
        number = {kind: number for number, kind in _STANZA_KINDS.items()}[self.kind]
        return struct.pack(">BH", number, len(self.body)) + self.body


def _x25519_stanza(recipient: x25519.X25519PublicKey, data_key: bytes, digest: bytes) -> Stanza:
    """The data key hybrid-encrypted for ``recipient`` (chapter 03), bound to this file's header."""
    return Stanza("x25519", hybrid_encrypt(recipient, data_key, digest, info=_X25519_WRAP_INFO))


def _scrypt_stanza(password: str, data_key: bytes, digest: bytes, log2n: int) -> Stanza:
    if not MIN_SCRYPT_LOG2N <= log2n <= MAX_SCRYPT_LOG2N:
        raise ValueError(f"scrypt cost log2 N must be {MIN_SCRYPT_LOG2N}..{MAX_SCRYPT_LOG2N}")
    salt = os.urandom(16)
    prefix = salt + bytes([log2n, SCRYPT_R, SCRYPT_P])
    wrap_key = Scrypt(salt=salt, length=32, n=2**log2n, r=SCRYPT_R, p=SCRYPT_P).derive(password.encode())
    return Stanza("scrypt", prefix + AESGCM(wrap_key).encrypt(_ZERO_NONCE, data_key, digest + prefix))


def _kms_stanza(kms: tuple[LocalKMS, str], data_key: bytes, digest: bytes) -> Stanza:
    """The data key wrapped by a KMS key-encryption key, with the header digest as encryption context."""
    service, name = kms
    return Stanza("kms", service.encrypt(name, data_key, context=digest))


def _stanzas(data_key: bytes, digest: bytes, recipients, passwords, kms, scrypt_log2n: int) -> list[Stanza]:
    """New stanzas for the given recipients; enforces age's rule that a password stanza stands alone."""
    stanzas = [_x25519_stanza(r, data_key, digest) for r in recipients]
    stanzas += [_kms_stanza(k, data_key, digest) for k in kms]
    stanzas += [_scrypt_stanza(p, data_key, digest, scrypt_log2n) for p in passwords]
    _check_password_alone(stanzas, ValueError)
    if len(stanzas) > MAX_STANZAS:
        raise ValueError(f"at most {MAX_STANZAS} key stanzas")
    return stanzas


def _check_password_alone(stanzas, error) -> None:
    if any(s.kind == "scrypt" for s in stanzas) and len(stanzas) > 1:
        raise error("a password (scrypt) stanza must be the only key stanza, as in age: mixed with others, "
                    "it would no longer show that only password holders made the file")


@dataclass(frozen=True)
class Header:
    algorithm: str
    chunk_size: int
    salt: bytes
    stanzas: tuple[Stanza, ...]
    mac: bytes = b""

    @property
    def fixed(self) -> bytes:
        return FIXED_HEADER.pack(MAGIC, VERSION, ALGORITHM_IDS[self.algorithm], self.chunk_size, self.salt)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the fixed header: bound into every chunk and every stanza."""
        return hashlib.sha256(self.fixed).digest()

    def authenticated_bytes(self) -> bytes:
        return self.fixed + struct.pack(">H", len(self.stanzas)) + b"".join(s.encode() for s in self.stanzas)

    def encode(self) -> bytes:
        return self.authenticated_bytes() + self.mac

    def with_mac(self, data_key: bytes) -> "Header":
        mac = hmac.new(_hkdf(data_key, self.salt, b"CLDC v1 header"), self.authenticated_bytes(), hashlib.sha256).digest()
        return Header(self.algorithm, self.chunk_size, self.salt, self.stanzas, mac)

    def recipients(self) -> list[str]:
        """Who can open the file (read from the header without a key, so unauthenticated)."""
        return [s.describe() for s in self.stanzas]


def _read_exact(f, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ContainerFormatError(f"file too short: truncated inside the {what}")
    return data


def read_header(f) -> Header:
    """Parse (not yet authenticate) the header at the current position of binary file ``f``.

    Every limit is enforced here, so a crafted header is refused before any key derivation.
    """
    magic, version, algorithm, chunk_size, salt = FIXED_HEADER.unpack(_read_exact(f, FIXED_HEADER.size, "header"))
    if magic != MAGIC:
        raise ContainerFormatError("not a course_lib container (bad magic bytes)")
    if version != VERSION:
        raise ContainerFormatError(f"unsupported container version {version} (this library reads version {VERSION})")
    if algorithm not in ALGORITHMS:
        raise ContainerFormatError(f"unknown algorithm id {algorithm} (header modified?)")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ContainerFormatError(f"invalid chunk size {chunk_size} (header modified?)")
    (count,) = struct.unpack(">H", _read_exact(f, 2, "stanza count"))
    if count > MAX_STANZAS:
        raise ContainerFormatError(f"{count} key stanzas; a container has at most {MAX_STANZAS} (header modified?)")
    stanzas = []
    for _ in range(count):
        number, length = struct.unpack(">BH", _read_exact(f, 3, "key stanza"))
        if number not in _STANZA_KINDS:
            raise ContainerFormatError(f"unknown key stanza type {number} (header modified?)")
        sizes = {STANZA_X25519: (_X25519_STANZA_SIZE,), STANZA_SCRYPT: (_SCRYPT_STANZA_SIZE,),
                 STANZA_KMS: _KMS_STANZA_SIZES}[number]
        if length not in sizes:
            raise ContainerFormatError(f"malformed key stanza: {length} bytes (header modified?)")
        body = _read_exact(f, length, "key stanza")
        if number == STANZA_SCRYPT:
            log2n, r, p = body[16:19]
            if (r, p) != (SCRYPT_R, SCRYPT_P) or not MIN_SCRYPT_LOG2N <= log2n <= MAX_SCRYPT_LOG2N:
                raise ContainerFormatError(
                    f"password stanza asks for scrypt N = 2^{log2n}, r = {r}, p = {p}; this library accepts "
                    f"only r = {SCRYPT_R}, p = {SCRYPT_P}, N = 2^{MIN_SCRYPT_LOG2N}..2^{MAX_SCRYPT_LOG2N} (header modified?)")
        if number == STANZA_KMS:
            try:
                blob_key_name(body)
            except KeyManagementError:
                raise ContainerFormatError("malformed KMS key stanza (header modified?)") from None
        stanzas.append(Stanza(_STANZA_KINDS[number], body))
    _check_password_alone(stanzas, ContainerFormatError)
    mac = _read_exact(f, 32, "header MAC")
    return Header(ALGORITHMS[algorithm][0], chunk_size, salt, tuple(stanzas), mac)


def holder_id(key, recipient=None) -> str | None:
    """Who opens with ``key``, as the hex key id a signed statement names as its recipient (or None).

    An X25519 private key names its holder: the key id of its public key. A KMS, a password or
    a raw data key names nobody — anyone who learned the data key can re-encrypt a file under
    one — so its caller states who they are with ``recipient`` (an X25519 public key, or its
    16-hex-digit key id); without it the holder is unknown (None), and a statement that names a
    recipient is refused (``release.check_recipient``). The stated ``recipient`` is taken on the
    caller's word: it protects an honest holder from opening a file meant for someone else, not
    against a key holder who lies about who they are.
    """
    stated = None
    if recipient is not None:
        if isinstance(recipient, x25519.X25519PublicKey):
            stated = key_id(recipient).hex()
        elif isinstance(recipient, str) and len(recipient) == 16 and all(ch in "0123456789abcdef" for ch in recipient):
            stated = recipient
        else:
            raise TypeError("recipient= is an X25519 public key or its key id (16 lowercase hex digits), "
                            f"not this {type(recipient).__name__}")      # the value is not echoed: it may be a secret
    if isinstance(key, x25519.X25519PrivateKey):
        own = key_id(key.public_key()).hex()
        if stated is not None and stated != own:
            raise ValueError(f"recipient= names key id {stated}, but the private key given is key id {own}")
        return own
    return stated


def _unwrap(header: Header, key) -> bytes:
    """The data key, from an X25519 private key, a password, or the raw 32-byte data key."""
    digest = header.digest
    if isinstance(key, (bytes, bytearray)):
        if len(key) != 32:
            raise WrongKeyError(f"a data key is 32 bytes, got {len(key)}")
        return bytes(key)
    if isinstance(key, x25519.X25519PrivateKey):
        mine = key_id(key.public_key())
        for stanza in header.stanzas:
            if stanza.kind == "x25519" and stanza.key_id == mine:
                try:
                    return hybrid_decrypt(key, stanza.body, digest, info=_X25519_WRAP_INFO)
                except DecryptionError:
                    raise HeaderAuthenticationError("the key stanza for this private key was modified") from None
        raise NotARecipientError(f"not encrypted for key id {mine.hex()}; recipients: "
                                 f"{', '.join(header.recipients()) or 'none'}")
    if isinstance(key, LocalKMS):
        stanzas = [s for s in header.stanzas if s.kind == "kms"]
        if not stanzas:
            raise WrongKeyError(f"this container has no KMS stanza; recipients: {', '.join(header.recipients())}")
        try:
            return key.decrypt(stanzas[0].body, context=digest)
        except DecryptionError:
            raise HeaderAuthenticationError("this KMS cannot unwrap the KMS stanza: it was modified or moved from "
                                                "another file, or another KMS's key has that name") from None
    if isinstance(key, str):
        stanza = next((s for s in header.stanzas if s.kind == "scrypt"), None)   # at most one, and alone
        if stanza is None:
            raise WrongKeyError(f"this container has no password; recipients: {', '.join(header.recipients())}")
        salt, log2n = stanza.body[:16], stanza.body[16]
        wrap_key = Scrypt(salt=salt, length=32, n=2**log2n, r=SCRYPT_R, p=SCRYPT_P).derive(key.encode())
        try:
            return AESGCM(wrap_key).decrypt(_ZERO_NONCE, stanza.body[19:], digest + stanza.body[:19])
        except InvalidTag:
            raise WrongPasswordError("wrong password (or the password stanza was modified)") from None
    raise TypeError("key must be an X25519PrivateKey, a LocalKMS, a password (str) or a 32-byte data key (bytes)")


def _header_hash(header: Header) -> bytes:
    """SHA-256 of the whole encoded header (fixed part, every stanza, header MAC): what a binding pins."""
    return hashlib.sha256(header.encode()).digest()


def _key_commitment(header: Header, data_key: bytes) -> bytes:
    """A one-way commitment to the data key (HKDF with its own label), safe to hand to worker processes."""
    return _hkdf(data_key, header.salt, b"CLDC v1 key commitment" + header.digest)


def _payload_aead(header: Header, data_key: bytes):
    cls = dict(ALGORITHMS.values())[header.algorithm]
    return cls(_hkdf(data_key, header.salt, b"CLDC v1 payload" + header.digest))


# ---------------------------------------------------------------- writing
class ContainerWriter:
    """Stream plaintext into a container: ``with ContainerWriter(path, recipients=[pub]) as w: w.write(data)``.

    ``dest`` is a path (written atomically) or a binary file object. Give one or more
    ``recipients`` (X25519 public keys) and/or ``kms=[(LocalKMS, key name)]``; or exactly one
    password (alone); or a ``data_key`` to reuse. With ``release`` (a :class:`~course_lib.release.Release`)
    the writer hashes the body and, on close, signs a statement binding the fixed-header digest and
    the body digest: ``writer.signed_statement``, also written to ``<dest>.sig`` for a path.
    """

    def __init__(self, dest, *, recipients=(), passwords=(), kms=(), data_key: bytes | None = None,
                 algorithm: str = "aes-256-gcm", chunk_size: int = DEFAULT_CHUNK_SIZE,
                 scrypt_log2n: int = DEFAULT_SCRYPT_LOG2N, release: Release | None = None):
        if algorithm not in ALGORITHM_IDS:
            raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHM_IDS)}")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size must be 1..{MAX_CHUNK_SIZE}")
        if not (recipients or passwords or kms or data_key):
            raise ValueError("give at least one recipient public key, KMS key, password or data key")
        self.data_key = data_key or os.urandom(32)
        self.chunk_size = chunk_size
        header = Header(algorithm, chunk_size, os.urandom(32), ())
        digest = header.digest
        stanzas = _stanzas(self.data_key, digest, recipients, passwords, kms, scrypt_log2n)
        self.header = Header(algorithm, chunk_size, header.salt, tuple(stanzas)).with_mac(self.data_key)
        self._aead = _payload_aead(self.header, self.data_key)
        self._digest = digest
        self.release = release   # may be replaced (same signer) before close, e.g. to add a Merkle root
        self._body_hash = hashlib.sha256() if release else None
        self.signed_statement: bytes | None = None
        self._dest = dest
        self._atomic = AtomicFile(dest) if isinstance(dest, (str, os.PathLike)) else None
        self._out = self._atomic.file if self._atomic else dest
        self._out.write(self.header.encode())
        self._pending = b""
        self._index = 0
        self._closed = False

    def _emit(self, chunk, last: bool) -> None:
        sealed = self._aead.encrypt(chunk_nonce(self._index, last), chunk, self._digest)
        if self._body_hash:
            self._body_hash.update(sealed)
        self._out.write(sealed)
        self._index += 1

    def write(self, data) -> int:
        """Add plaintext; a full chunk is encrypted once more data shows it is not the last.

        Immutable ``bytes`` are encrypted straight from the caller's buffer; anything mutable
        (a reused ``bytearray``) is copied first.
        """
        if self._closed:
            raise ValueError("write to a closed ContainerWriter")
        view = memoryview(data).cast("B")
        size = self.chunk_size
        pending = self._pending
        if 0 < len(pending) < size:
            take = min(len(view), size - len(pending))
            pending = bytes(pending) + bytes(view[:take])
            view = view[take:]
        if len(view):
            if pending:
                self._emit(pending, last=False)
            while len(view) > size:
                self._emit(view[:size], last=False)
                view = view[size:]
            pending = view if isinstance(data, bytes) else bytes(view)
        self._pending = pending
        return len(data)

    def close(self) -> None:
        """Encrypt the final chunk (flagged last), sign if asked, and, for a path, move the file into place."""
        if self._closed:
            return
        self._emit(self._pending, last=True)
        self._pending = b""
        self._closed = True
        if self.release:
            self.signed_statement = self.release.sign({"header": self._digest.hex(),
                                                        "body": self._body_hash.hexdigest()})
        if self._atomic:
            self._atomic.commit()
            if self.signed_statement:
                write_atomic(statement_path(self._dest), self.signed_statement)

    def abort(self) -> None:
        self._closed = True
        if self._atomic:
            self._atomic.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


# ---------------------------------------------------------------- reading
@dataclass(frozen=True)
class Binding:
    """What a verified reader learned: the header digest and every chunk's tag (for worker processes).

    A reader given a binding checks that the file it opens has this exact header (stanzas and
    MAC included), that the key it is given unwraps to the same data key (a key commitment,
    compared in constant time) and, chunk by chunk, these tags — so a worker that opens the path
    again cannot be handed another file, nor the same tags under a data key someone else chose.
    """
    header_digest: bytes
    tags: bytes
    header_hash: bytes        # SHA-256 of the whole encoded header: stanzas and header MAC included
    key_commitment: bytes     # derived from the data key (one-way), compared after unwrapping


def _require_pin(pin, allow_unsigned: bool, who: str) -> None:
    if pin is None and not allow_unsigned:
        raise TypeError(f"{who} accepts only signed data: pass pin=cl.release.Pin(signer, name, min_version=…), "
                        "or allow_unsigned=True to read an unsigned container in a demo")


class ContainerReader:
    """Authenticated, random-access reading of a container: ``reader.read_chunk(i)``, ``iter(reader)``.

    ``key`` is an X25519 private key, a ``LocalKMS``, a password, or the 32-byte data key.
    ``pin`` (a :class:`~course_lib.release.Pin`) says whose signed statement the container must carry
    (``statement=`` bytes, or ``<path>.sig``) and ``kind`` what it must be; ``allow_unsigned=True``
    opts out, for demos. A statement that names a recipient must name the holder of ``key``
    (``recipient=`` says who that is for a KMS, a password or a data key: :func:`holder_id`).
    Order on open: parse (with limits) → verify the statement → hash the body through this
    reader's own descriptor and compare → unwrap the data key → check the header MAC.
    Each chunk is authenticated when it is read, and its tag compared with the one hashed on open.
    """

    def __init__(self, source, key, *, pin: Pin | None = None, statement: bytes | None = None,
                 kind: str = "file", allow_unsigned: bool = False, binding: Binding | None = None,
                 recipient=None):
        if binding is None:
            _require_pin(pin, allow_unsigned, "ContainerReader")
        holder = holder_id(key, recipient)
        self._owned = isinstance(source, (str, os.PathLike))
        self._f = open(source, "rb") if self._owned else source
        self.statement = None
        try:
            header = read_header(self._f)
            self.body_offset = self._f.tell()
            end = self._f.seek(0, io.SEEK_END)
            self._stride = header.chunk_size + TAG
            body = end - self.body_offset
            self.chunk_count = max(1, -(-body // self._stride))
            self._last_size = body - (self.chunk_count - 1) * self._stride
            self.last_chunk_size = max(0, self._last_size - TAG)     # plaintext bytes of the final chunk
            self._tags = None
            if binding is not None:
                self._check_binding(header, binding)
            elif pin is not None:
                self._verify_release(source, header, pin, statement, kind, holder)
            self.header, self.data_key = header, _unwrap(header, key)
            if not hmac.compare_digest(header.with_mac(self.data_key).mac, header.mac):
                hint = "wrong data key, or " if isinstance(key, (bytes, bytearray)) else ""
                raise HeaderAuthenticationError(f"header authentication failed: {hint}the header was modified")
            if binding is not None:
                self._check_key_commitment(binding)
        except BaseException:
            self.close()
            raise
        aead = _payload_aead(self.header, self.data_key)   # one AEAD object per reader, so one per worker
        self._decrypt, self._decrypt_into = aead.decrypt, aead.decrypt_into
        self._digest = self.header.digest
        self._sealed_rows, self._opened_rows = RowViews(self._stride), RowViews(self.header.chunk_size)
        self._fd = self._f.fileno() if hasattr(self._f, "fileno") and self._owned else None

    def _verify_release(self, source, header: Header, pin: Pin, statement: bytes | None, kind: str,
                        holder: str | None) -> None:
        if statement is None and self._owned:
            statement = read_statement(source)
        if statement is None:
            where = Path(statement_path(source)).name if self._owned else "statement="
            raise UnsignedError(f"no signed statement ({where}): this container's origin cannot be checked")
        self.statement = pin.verify(statement, kind=kind)
        check_recipient(self.statement, holder)
        if self.statement.digests.get("header") != header.digest.hex():
            raise ReleaseMismatchError(f"the signed statement for {pin.name!r} describes another container "
                                       "(header digest differs): swapped or forged file")
        body_hash, tags = hashlib.sha256(), []
        for data in self.encrypted_body(self._stride * max(1, (1 << 20) // self._stride)):
            body_hash.update(data)
            tags += [data[i - TAG:i] for i in range(self._stride, len(data) + 1, self._stride)]
            if len(data) % self._stride:
                tags.append(data[-TAG:])
        if not hmac.compare_digest(body_hash.hexdigest(), self.statement.digests.get("body", "")):
            raise ReleaseMismatchError(f"the chunks differ from those signed for {pin.name!r} "
                                       "(body digest differs): modified, truncated or extended file")
        self._tags = b"".join(tags)

    def _check_binding(self, header: Header, binding: Binding) -> None:
        if (not hmac.compare_digest(header.digest, binding.header_digest)
                or not hmac.compare_digest(_header_hash(header), binding.header_hash)
                or len(binding.tags) != TAG * self.chunk_count):
            raise ReleaseMismatchError("this is not the file that was verified when the dataset was opened: "
                                       "its header (key stanzas or header MAC) was replaced, or it was swapped "
                                       "or resized since")
        self._tags = binding.tags

    def _check_key_commitment(self, binding: Binding) -> None:
        if not hmac.compare_digest(_key_commitment(self.header, self.data_key), binding.key_commitment):
            raise ReleaseMismatchError("the key given unwraps to another data key than the one verified when the "
                                       "dataset was opened: another file, or another key")

    @property
    def binding(self) -> Binding | None:
        """The verified header digest and tags, for a reader in another process (or None if unsigned)."""
        if self._tags is None:
            return None
        return Binding(self.header.digest, self._tags, _header_hash(self.header),
                       _key_commitment(self.header, self.data_key))

    @property
    def chunk_size(self) -> int:
        return self.header.chunk_size

    def _raw(self, index: int) -> bytes:
        size = self._last_size if index == self.chunk_count - 1 else self._stride
        offset = self.body_offset + index * self._stride
        if size < TAG:
            raise _truncated(index)
        if self._fd is not None:
            return os.pread(self._fd, size, offset)
        self._f.seek(offset)
        return self._f.read(size)

    def encrypted_body(self, block: int = 1 << 20):
        """The body as stored — encrypted chunks and their tags — in blocks of ``block`` bytes."""
        self._f.seek(self.body_offset)
        while data := self._f.read(block):
            yield data

    def read_chunk(self, index: int) -> bytes:
        """Decrypt and authenticate chunk ``index`` (random access).

        This is the hot path of a shuffled ``DataLoader``: one read and one AEAD call per chunk,
        and, for a signed container, a 16-byte comparison with the tag hashed on open.
        """
        last = index == self.chunk_count - 1
        if not 0 <= index < self.chunk_count:
            raise IndexError(f"chunk {index} out of range 0..{self.chunk_count - 1}")
        raw = self._raw(index)
        try:
            plaintext = self._decrypt(chunk_nonce(index, last), raw, self._digest)
        except InvalidTag:
            return self._diagnose(index, raw, last)
        if self._tags is not None and raw[-TAG:] != self._tags[TAG * index:TAG * (index + 1)]:
            raise _rewritten(index)
        return plaintext

    def read_chunks_into(self, indices, out) -> None:
        """Decrypt and authenticate several chunks at once into the rows of ``out`` (batched reads).

        ``indices`` are distinct chunk numbers in increasing order; ``out`` is a writable uint8
        array of shape ``(len(indices), chunk_size)``. Runs of adjacent chunks are read with one
        ``preadv`` each into a reusable staging buffer of at most ``STAGING_BYTES`` (or one chunk),
        and each load of it is decrypted into ``out`` with this reader's one AEAD object while it
        is still in the CPU's cache: a batch of small chunks in one load, large chunks a few at a
        time. A shorter final chunk leaves the rest of its row as zeros. If any chunk fails, every
        row of ``out`` is wiped before the error is raised: no unauthenticated plaintext is left
        behind (``decrypt_into`` writes before it checks the tag).
        """
        count = len(indices)
        if not count:
            return
        if not (0 <= indices[0] and indices[-1] < self.chunk_count):
            raise IndexError(f"chunk indices must lie in 0..{self.chunk_count - 1}")
        if not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape[:1] == (count,) and out.ndim == 2
                and out.shape[1] >= self.header.chunk_size and out.flags.c_contiguous and out.flags.writeable):
            raise ValueError(f"out must be a writable, C-contiguous uint8 array of shape ({count}, ≥ "
                             f"{self.header.chunk_size}): one row per chunk")
        stride, last_index = self._stride, self.chunk_count - 1
        limit = max(1, min(count, STAGING_BYTES // stride))      # chunks staged at once
        raw = self._raw_buffer(limit)
        sealed, opened = self._sealed_rows(raw), self._opened_rows(out)
        nonces, offsets = chunk_nonces(indices, last_index), (self.body_offset + stride * indices).tolist()
        tail = count if indices[-1] == last_index else -1   # where the run with the shorter final chunk ends
        try:
            if tail > 0:
                if self._last_size < TAG:
                    raise _truncated(last_index)
                opened[-1] = opened[-1][:self._last_size - TAG]
                out[-1, self._last_size - TAG:] = 0
            if limit == count:      # small chunks: read the whole batch, then decrypt and check it at once
                runs = adjacent_runs(indices)
                final = runs.pop() if tail > 0 else None             # the file's final chunk is shorter
                fd, single = self._fd, 1 if self._fd is not None else 0    # file objects: no inline reads
                for start, end in runs:
                    if end - start == single:                       # most runs of a shuffled batch
                        if os.preadv(fd, [sealed[start]], offsets[start]) < stride:
                            raise _truncated(int(indices[start]))
                    else:
                        self._read_run(indices[start:end], raw[start:end], offsets[start])
                if final:
                    self._read_run(indices[final[0]:], raw[final[0]:], offsets[final[0]])
                self._open_load(indices, 0, count, raw, sealed, opened, nonces, tail > 0)
            else:                   # large chunks: a few at a time, each load decrypted while in cache
                load = 0
                for start, end in _pieces(indices, limit):
                    self._read_run(indices[start:end], raw[start - load:end - load], offsets[start])
                    if end - load == limit or end == count:
                        self._open_load(indices, load, end, raw, sealed, opened, nonces, end == tail)
                        load = end
        except BaseException:
            out[:] = 0
            raise

    def _open_load(self, indices, load: int, end: int, raw, sealed, opened, nonces, ends_file: bool) -> None:
        """Decrypt the staged chunks ``indices[load:end]`` into their rows of ``out``, then check their tags."""
        staged = self._staged(sealed, end - load, ends_file)
        try:
            for _ in map(self._decrypt_into, nonces[load:end], staged, repeat(self._digest), opened[load:end]):
                pass                                                        # the loop in C
        except InvalidTag:
            self._diagnose_first_failure(indices[load:end], nonces[load:end], staged)
        if self._tags is not None:
            self._check_tags(indices[load:end], raw[:end - load])

    def _read_run(self, indices, rows, offset: int) -> None:
        """Read the adjacent chunks ``indices`` into ``rows``, from file position ``offset``, with one system call."""
        if self._fd is not None:
            got = os.preadv(self._fd, [rows], offset)
        else:
            self._f.seek(offset)
            got = self._f.readinto(rows)
        ends_file = indices[-1] == self.chunk_count - 1
        if got < len(indices) * self._stride - (self._stride - self._last_size if ends_file else 0):
            raise _truncated(int(indices[-1]))

    def _staged(self, sealed, rows: int, ends_file: bool) -> list:
        """The first ``rows`` sealed views; the file's final chunk, if it ends them, is shorter than a row."""
        views = sealed[:rows]
        if ends_file:
            views[-1] = views[-1][:self._last_size]
        return views

    def _diagnose_first_failure(self, indices, nonces, sealed) -> None:
        """Raise the error of the first chunk of a batch that fails authentication."""
        for index, nonce, ciphertext in zip(indices.tolist(), nonces, sealed):
            try:
                self._decrypt(nonce, ciphertext, self._digest)
            except InvalidTag:
                self._diagnose(index, bytes(ciphertext), index == self.chunk_count - 1)
        raise ChunkAuthenticationError("a chunk of this batch failed authentication")   # the same bytes cannot pass

    @cached_property
    def _tag_rows(self):
        """The tags hashed on open, one 16-byte row per chunk."""
        return np.frombuffer(self._tags, dtype=np.uint8).reshape(-1, TAG)

    def _check_tags(self, indices, raw) -> None:
        """Every chunk's tag must be the one hashed when the file was verified (a load's rows at once)."""
        expected = self._tag_rows[indices]
        stored = raw[:, self._stride - TAG:]
        if indices[-1] == self.chunk_count - 1:             # the final chunk's tag ends where the file does
            stored = stored.copy()
            stored[-1] = raw[-1, self._last_size - TAG:self._last_size]
        if not np.array_equal(stored, expected):
            raise _rewritten(int(indices[np.argmax((stored != expected).any(axis=1))]))

    def _raw_buffer(self, rows: int):
        """A reusable (rows, stride) uint8 buffer for ciphertext read from disk."""
        buffer = getattr(self, "_raw_rows", None)
        if buffer is None or len(buffer) < rows:
            buffer = self._raw_rows = np.empty((max(rows, 1), self._stride), dtype=np.uint8)
        return buffer[:rows]

    def _diagnose(self, index: int, raw: bytes, last: bool):
        """Say why chunk ``index`` failed: is it authentic at this index with the other last-chunk flag?

        The error carries the chunk's number as ``error.chunk`` (datasets name its samples from it).
        """
        try:
            self._decrypt(chunk_nonce(index, not last), raw, self._digest)
        except InvalidTag:
            raise _about_chunk(ChunkAuthenticationError(
                f"chunk {index} failed authentication: modified, reordered, or copied from another file"), index) from None
        if last:
            raise _about_chunk(TruncatedError(f"file ends after chunk {index}, which is not the final chunk: "
                                              "truncated"), index)
        raise _about_chunk(ExtendedError(f"chunk {index} is the final chunk but more data follows: "
                                         "the file was extended"), index)

    def __iter__(self):
        for index in range(self.chunk_count):
            yield self.read_chunk(index)

    def read_all(self) -> bytes:
        return b"".join(self)

    def close(self) -> None:
        if self._owned and not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------- whole files and bytes
def encrypt_bytes(data: bytes, **writer_options) -> bytes:
    """Encrypt ``data`` into container bytes (in memory). With ``release=``, see :func:`encrypt_bytes_signed`."""
    out = io.BytesIO()
    with ContainerWriter(out, **writer_options) as writer:
        writer.write(data)
    return out.getvalue()


def encrypt_bytes_signed(data: bytes, release: Release, **writer_options) -> tuple[bytes, bytes]:
    """Encrypt ``data`` and sign its statement: returns ``(container bytes, signed statement)``."""
    out = io.BytesIO()
    with ContainerWriter(out, release=release, **writer_options) as writer:
        writer.write(data)
    return out.getvalue(), writer.signed_statement


def decrypt_bytes(blob: bytes, key, **reader_options) -> bytes:
    """Decrypt container bytes; ``reader_options`` are :class:`ContainerReader`'s (``pin``, ``statement``, …)."""
    with ContainerReader(io.BytesIO(blob), key, **reader_options) as reader:
        return reader.read_all()


def encrypt_file(src, dst, *, read_size: int = 1 << 20, **writer_options) -> None:
    """Stream ``src`` into the container ``dst`` without reading the whole file into memory."""
    with open(src, "rb") as f, ContainerWriter(dst, **writer_options) as writer:
        while block := f.read(read_size):
            writer.write(block)


def decrypt_file(src, dst, key, **reader_options) -> None:
    """Decrypt the container ``src`` into ``dst`` (mode 0600). ``dst`` appears only if every chunk verified."""
    atomic = AtomicFile(dst)
    try:
        with ContainerReader(src, key, **reader_options) as reader:
            for chunk in reader:
                atomic.file.write(chunk)
    except BaseException:
        atomic.abort()
        raise
    atomic.commit()


def recipients(path) -> list[str]:
    """Who can open ``path``, from its header (unauthenticated: for display, not for decisions)."""
    with open(path, "rb") as f:
        return read_header(f).recipients()


def rewrap(path, key, *, recipients=(), passwords=(), kms=(), keep: bool = False,
           scrypt_log2n: int = DEFAULT_SCRYPT_LOG2N, pin: Pin | None = None, kind: str = "file",
           recipient=None) -> None:
    """Give the file's data key to new recipients without re-encrypting any chunk.

    With ``keep=False`` (key rotation) the old stanzas are dropped; with ``keep=True`` the new
    ones are added. The chunks and the fixed header are copied byte for byte, so a signed
    statement about the file stays valid. Give ``pin`` to re-wrap only a file you can verify
    (and ``recipient``, as for :class:`ContainerReader`, if its statement names one).
    Anyone who already learned the data key can still read the file: rotating the *data* key
    needs re-encryption.
    """
    with ContainerReader(path, key, pin=pin, kind=kind, allow_unsigned=pin is None, recipient=recipient) as reader:
        header, data_key = reader.header, reader.data_key
        digest = header.digest
        stanzas = list(header.stanzas) if keep else []
        stanzas += _stanzas(data_key, digest, recipients, passwords, kms, scrypt_log2n)
        _check_password_alone(stanzas, ValueError)
        if not stanzas:
            raise ValueError("rewrapping would leave nobody able to open the file")
        if len(stanzas) > MAX_STANZAS:
            raise ValueError(f"at most {MAX_STANZAS} key stanzas")
        new_header = Header(header.algorithm, header.chunk_size, header.salt, tuple(stanzas)).with_mac(data_key)
        atomic = AtomicFile(path)
        try:
            atomic.file.write(new_header.encode())
            for block in reader.encrypted_body():
                atomic.file.write(block)
        except BaseException:
            atomic.abort()
            raise
    atomic.commit()
