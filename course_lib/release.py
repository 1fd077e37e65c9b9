"""Signed statements about artefacts, and the verifier's pin (chapters 04–06).

A bare signature says only "this key signed these bytes". A verifier needs to know *what* was
signed — a dataset or a model, which one, which version, for whom — or an attacker replays an
old or unrelated signed file in its place. So the course signs a **statement**::

    {"kind": "dataset", "name": "digits-train", "version": 3, "created": "2026-…Z",
     "digests": {"header": "…", "body": "…"}, "dataset_root": "…", "recipient": "…"}

and wraps it in an envelope in the style of DSSE (the Dead Simple Signing Envelope used by
in-toto and Sigstore): the Ed25519 signature covers ``PAE(payload type, payload)``, so a
signature made over any other bytes does not verify as a statement (domain separation).

The verifier holds a :class:`Pin`: the signer's public key (obtained out of band or from a
certificate, chapter 03), the artefact's name and the lowest version it accepts — a required
argument, since a pin that accepted every version would accept a rollback. Everything is parsed
strictly, with size caps, and only after the signature has verified. A statement that names a
recipient is accepted only by that recipient (:func:`check_recipient`).
"""
from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from dataclasses import asdict, dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import RollbackError, StatementError, UntrustedSignerError
from .pubkey import key_id, verify

__all__ = ["PAYLOAD_TYPE", "KINDS", "MAX_ENVELOPE_BYTES", "MAX_VERSION", "pae", "Statement", "Release", "Pin",
           "check_recipient", "sign_statement", "read_statement", "statement_path"]

PAYLOAD_TYPE = "application/vnd.course-lib.statement.v1+json"
KINDS = ("dataset", "model", "file")
MAX_ENVELOPE_BYTES = 64 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")
_FIELDS = ("kind", "name", "version", "created", "digests", "dataset_root", "recipient")
MAX_VERSION = 2**53 - 1          # versions are JSON numbers: exact as integers up to 2^53


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed (lengths make it unambiguous)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Statement:
    """What a signer vouches for. ``digests`` name what the artefact commits to (hex SHA-256)."""
    kind: str
    name: str
    version: int
    digests: dict
    dataset_root: str = ""      # Merkle root (hex) of the dataset's records, or of a model's training set
    recipient: str = ""         # key id (hex) of the intended recipient; "" means anyone it is encrypted for
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
                         .strftime("%Y-%m-%dT%H:%M:%SZ"))

    def __post_init__(self):
        _check_statement(asdict(self))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def _check_statement(fields: dict) -> None:
    def bad(why: str):
        raise StatementError(f"malformed statement: {why}")
    if not isinstance(fields, dict) or sorted(fields) != sorted(_FIELDS):
        bad(f"expected exactly the fields {', '.join(_FIELDS)}")
    if fields["kind"] not in KINDS:
        bad(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(fields["name"], str) or not 1 <= len(fields["name"]) <= 200:
        bad("name must be a string of 1 to 200 characters")
    version = fields["version"]
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        bad("version must be a whole number from 0")
    digests = fields["digests"]
    if (not isinstance(digests, dict) or not 1 <= len(digests) <= 8
            or not all(isinstance(k, str) and isinstance(v, str) and _HEX64.match(v) for k, v in digests.items())):
        bad("digests must map up to 8 names to hex SHA-256 digests")
    if not isinstance(fields["dataset_root"], str) or fields["dataset_root"] and not _HEX64.match(fields["dataset_root"]):
        bad("dataset_root must be empty or a hex SHA-256 root")
    if not isinstance(fields["recipient"], str) or fields["recipient"] and not _HEX16.match(fields["recipient"]):
        bad("recipient must be empty or a 16-hex-digit key id")
    if not isinstance(fields["created"], str) or len(fields["created"]) > 40:
        bad("created must be a timestamp string")


def sign_statement(signing_key: ed25519.Ed25519PrivateKey, statement: Statement) -> bytes:
    """The signed envelope (JSON bytes) for ``statement``."""
    payload = statement.to_json()
    signature = signing_key.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
                "signatures": [{"keyid": key_id(signing_key.public_key()).hex(),
                                "sig": base64.b64encode(signature).decode()}]}
    return json.dumps(envelope, sort_keys=True).encode()


def _parse_envelope(envelope: bytes) -> tuple[bytes, str, bytes]:
    """(payload, claimed key id, signature) — unauthenticated until the signature is checked."""
    if not isinstance(envelope, (bytes, bytearray)) or len(envelope) > MAX_ENVELOPE_BYTES:
        raise StatementError(f"a signed statement is bytes of at most {MAX_ENVELOPE_BYTES} bytes")
    try:
        outer = json.loads(bytes(envelope).decode("utf-8"))
        if not isinstance(outer, dict) or sorted(outer) != ["payload", "payloadType", "signatures"]:
            raise ValueError("unexpected fields")
        if outer["payloadType"] != PAYLOAD_TYPE:
            raise ValueError(f"payload type {outer['payloadType']!r}")
        (entry,) = outer["signatures"]
        if not isinstance(entry, dict) or sorted(entry) != ["keyid", "sig"]:
            raise ValueError("unexpected signature fields")
        payload = base64.b64decode(outer["payload"], validate=True)
        signature = base64.b64decode(entry["sig"], validate=True)
        if len(signature) != 64 or not isinstance(entry["keyid"], str):
            raise ValueError("malformed signature")
        return payload, entry["keyid"], signature
    except (ValueError, TypeError, KeyError, RecursionError, binascii.Error) as error:   # incl. Unicode/JSON errors
        raise StatementError(f"malformed signed statement ({error.__class__.__name__})") from None


@dataclass(frozen=True)
class Release:
    """What a writer asks to sign: its key, the artefact's name and version, and optional context."""
    signing_key: ed25519.Ed25519PrivateKey
    name: str
    version: int
    kind: str = "file"
    dataset_root: str = ""
    recipient: str = ""

    def sign(self, digests: dict) -> bytes:
        statement = Statement(self.kind, self.name, self.version, digests, self.dataset_root, self.recipient)
        return sign_statement(self.signing_key, statement)


@dataclass(frozen=True)
class Pin:
    """What a verifier trusts: one signer's public key, one artefact name, a lowest version.

    ``min_version`` is keyword-only and has no default: a pin that accepted version 0 and up
    would accept every older release the signer ever made (a rollback, chapter 05). Raise it
    when a new version ships. ``Pin(signer, name)`` alone is refused with a ``TypeError``.
    """
    signer: ed25519.Ed25519PublicKey
    name: str
    min_version: int = field(kw_only=True)

    def __post_init__(self):
        if not isinstance(self.signer, ed25519.Ed25519PublicKey):
            hint = (" (a private key: pin its .public_key())" if isinstance(self.signer, ed25519.Ed25519PrivateKey)
                    else "")
            raise TypeError(f"a Pin's signer is an Ed25519 public key, not {type(self.signer).__name__}{hint}")
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 200:
            raise ValueError("a Pin's name is the artefact's name: a string of 1 to 200 characters")
        if type(self.min_version) is not int:          # bool, float and str are refused, not rounded
            raise TypeError(f"min_version must be a whole number (int), not {type(self.min_version).__name__}")
        if not 0 <= self.min_version <= MAX_VERSION:
            raise ValueError(f"min_version must lie in 0..{MAX_VERSION}, got {self.min_version}")

    def verify(self, envelope: bytes, *, kind: str) -> Statement:
        """The statement, if ``envelope`` is signed by the pinned key and names this artefact.

        Raises :class:`UntrustedSignerError`, ``SignatureError``, :class:`StatementError` (wrong
        kind or name, malformed) or :class:`RollbackError` (older than ``min_version``).
        """
        payload, claimed, signature = _parse_envelope(envelope)
        pinned = key_id(self.signer).hex()
        if claimed != pinned:
            shown = f"key id {claimed}" if _HEX16.match(claimed) else "an unnamed key"
            raise UntrustedSignerError(f"statement signed by {shown}, not by the pinned signer's key id {pinned}")
        verify(self.signer, pae(PAYLOAD_TYPE, payload), signature)
        try:
            fields = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError):
            raise StatementError("malformed statement: not JSON") from None
        _check_statement(fields)
        statement = Statement(**fields)
        if statement.kind != kind:
            raise StatementError(f"the statement is about a {statement.kind}, not a {kind}")
        if statement.name != self.name:
            raise StatementError(f"the statement is about {statement.name!r}, not {self.name!r}")
        if statement.version < self.min_version:
            raise RollbackError(f"{statement.name!r} version {statement.version} is older than the lowest "
                                f"accepted version {self.min_version}: a rollback or replay")
        return statement


def check_recipient(statement: Statement, holder: str | None) -> None:
    """Refuse ``statement`` if it names a recipient (a key id) other than ``holder``, who is opening.

    ``holder`` is the hex key id of whoever opens (``container.holder_id``), or None when the
    key they open with does not say who holds it (a KMS, a password, a raw data key). A statement
    that names no recipient ("") is meant for anyone the artefact is encrypted for; one that
    names a recipient is refused when the holder is unknown: anyone holding the data key could
    have re-encrypted the genuine signed plaintext under such a key. For those keys ``holder``
    comes from the caller's own ``recipient=``: the check protects an honest reader from being
    handed an artefact meant for someone else, and does not stop a key holder who claims to be
    the named recipient (only an X25519 private key proves who holds it). Raises :class:`StatementError`.
    """
    if not statement.recipient:
        return
    about = f"{statement.name!r} version {statement.version} was signed for recipient {statement.recipient}"
    if holder is None:
        raise StatementError(f"{about}; the key given (a KMS, a password or a data key) does not say who holds it: "
                             "pass recipient= (your X25519 public key or its key id) to state who is opening")
    if statement.recipient != holder:
        raise StatementError(f"{about}, not for key id {holder}, who is opening it")


def statement_path(path) -> str:
    """Where a container's detached statement lives: next to it, with ``.sig`` appended."""
    return f"{path}.sig"


def read_statement(path) -> bytes | None:
    """The detached statement of the container at ``path`` (size-capped), or None if there is none."""
    try:
        with open(statement_path(path), "rb") as f:
            data = f.read(MAX_ENVELOPE_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_ENVELOPE_BYTES:
        raise StatementError(f"signed statement larger than {MAX_ENVELOPE_BYTES} bytes")
    return data
