"""Authenticated, encrypted channels between pinned parties (chapter 08).

MPC's privacy holds only if nobody else reads the shares on the wire, and only if the party
at the other end is who it claims to be. So, before any share moves:

1. **Identities.** Every party (the dealer too) has a long-term Ed25519 identity key. The others
   know it only by its **fingerprint** (SHA-256 of the public key), exchanged out of band and
   pinned in a :class:`Roster` ``{rank: fingerprint}``.
2. **Handshake** (per pair, SIGMA-style as in TLS 1.3): both send their identity public key and
   a fresh ephemeral X25519 key; both sign the transcript (context, both ranks, both identity
   keys, both ephemeral keys). A key not in the roster, or a signature that does not verify,
   stops the run and names the party. Fresh ephemerals make every session's keys new
   (forward secrecy) and make an old signature useless in a new session.
3. **Keys.** HKDF over the X25519 secret, salted with the transcript hash, gives one AES-256-GCM
   key per direction and a **seed** for the pair's PRG — seeds are derived, never sent.
4. **Messages.** Each message is AES-GCM with nonce = the direction's message counter and
   associated data naming sender, receiver and counter: a forged, replayed, reordered or
   garbled message fails authentication with an error that names the sender.

What the channel does not hide: who talks to whom, when, and how much (message sizes and
rounds are public in MPC anyway).

Before the handshake, each party claims its rank in rank 0's rendezvous store, which anyone who
reaches its port can write. A claim is signed by the claimant's identity key over the session
and the rank (:func:`rank_claim`), so the others tell a stranger's claim from a roster member's
(:func:`rank_claim_is_valid`) and name it; a stranger can still block a session (denial of
service), never join it.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ImpersonationError, MessageAuthenticationError, UnknownPeerError, party_label

__all__ = ["Identity", "Roster", "Channel", "fingerprint", "HELLO_SIZE", "SIGNATURE_SIZE", "TAG_SIZE", "hello",
           "sign_transcript", "finish_handshake", "rank_claim", "rank_claim_is_valid"]

CONTEXT = b"course_lib mpc handshake v1"
CLAIM_CONTEXT = b"course_lib mpc rank claim v1"
HELLO_SIZE = 64          # identity public key ‖ ephemeral public key
SIGNATURE_SIZE = 64
TAG_SIZE = 16
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def fingerprint(public_key: ed25519.Ed25519PublicKey) -> str:
    """SHA-256 of the raw identity public key, hex (what a roster pins)."""
    return hashlib.sha256(public_key.public_bytes(*_RAW)).hexdigest()


@dataclass(frozen=True)
class Identity:
    """A party's long-term Ed25519 identity key (its private part never leaves the party)."""
    signing_key: ed25519.Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "Identity":
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> "Identity":
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(raw))

    def private_bytes(self) -> bytes:
        """Raw 32 bytes, to hand this identity to the one process that plays the party."""
        return self.signing_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())

    @property
    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def save(self, path) -> None:
        """Write the private key as PEM, readable by its owner only (mode 0600)."""
        pem = self.signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)

    @classmethod
    def load(cls, path) -> "Identity":
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 identity key")
        return cls(key)


@dataclass(frozen=True)
class Roster:
    """The pinned fingerprint of every rank's identity key, agreed out of band, and optional names.

    As a file (JSON): ``{"0": "<fingerprint>", …}``, or with names for a room-wide lab,
    ``{"0": {"name": "Alice", "fingerprint": "<fingerprint>"}, …}``.
    """
    fingerprints: dict
    names: dict = field(default_factory=dict)

    def __post_init__(self):
        for rank, value in self.fingerprints.items():
            if not isinstance(rank, int) or not isinstance(value, str) or len(value) != 64:
                raise ValueError("a roster maps ranks to 64-hex-digit fingerprints")

    @classmethod
    def of(cls, identities: dict, names: dict | None = None) -> "Roster":
        return cls({rank: identity.fingerprint for rank, identity in identities.items()}, dict(names or {}))

    def label(self, rank: int, parties: int) -> str:
        """'party 3 (Carol)', or 'party 3' when the roster has no name for it."""
        name = self.names.get(rank)
        return party_label(rank, parties) + (f" ({name})" if name else "")

    def rank_of(self, fingerprint_hex: str) -> int | None:
        return next((rank for rank, value in self.fingerprints.items() if value == fingerprint_hex), None)

    def check(self, rank: int, public_key, parties: int) -> None:
        pinned, presented = self.fingerprints.get(rank), fingerprint(public_key)
        if pinned is None:
            raise UnknownPeerError(f"{self.label(rank, parties)} is not in the roster")
        if presented != pinned:
            raise UnknownPeerError(f"{self.label(rank, parties)} presented identity key {presented[:16]}…, but the "
                                   f"roster pins {pinned[:16]}… for it: an unknown or impersonating peer")

    def to_json(self) -> str:
        if self.names:
            return json.dumps({str(rank): {"name": self.names.get(rank, ""), "fingerprint": value}
                               for rank, value in sorted(self.fingerprints.items())}, indent=1, ensure_ascii=False)
        return json.dumps({str(rank): value for rank, value in sorted(self.fingerprints.items())}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Roster":
        fingerprints, names = {}, {}
        for rank, value in json.loads(text).items():
            if isinstance(value, dict):
                fingerprints[int(rank)] = value.get("fingerprint")
                if value.get("name"):
                    names[int(rank)] = str(value["name"])
            else:
                fingerprints[int(rank)] = value
        return cls(fingerprints, names)


def _claim_message(session: str, rank: int, world: int, token: bytes) -> bytes:
    return CLAIM_CONTEXT + struct.pack(">II", rank, world) + session.encode() + b"\0" + token


def rank_claim(identity: Identity, session: str, rank: int, world: int) -> str:
    """This party's claim on ``rank`` in the rendezvous: a fresh token, its public key, its signature over both."""
    token = os.urandom(16)
    signature = identity.signing_key.sign(_claim_message(session, rank, world, token))
    return ":".join(["v1", token.hex(), identity.public_key.public_bytes(*_RAW).hex(), signature.hex()])


def rank_claim_is_valid(claim: str, roster: Roster, session: str, rank: int, world: int) -> bool:
    """True if ``claim`` is signed, for this session and rank, by the identity key the roster pins for ``rank``."""
    try:
        version, token, key, signature = claim.split(":")
        public_key = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(key))
        if version != "v1" or fingerprint(public_key) != roster.fingerprints.get(rank):
            return False
        public_key.verify(bytes.fromhex(signature), _claim_message(session, rank, world, bytes.fromhex(token)))
        return True
    except (ValueError, InvalidSignature):
        return False


class Channel:
    """AES-256-GCM to and from one peer, with a message counter per direction.

    ``seconds`` adds up the time spent sealing and opening (what the channel costs this party).
    """

    def __init__(self, me: int, peer: int, parties: int, send_key: bytes, recv_key: bytes):
        self.me, self.peer, self.parties = me, peer, parties
        self._send, self._recv = AESGCM(send_key), AESGCM(recv_key)
        self.sent = self.received = 0
        self.seconds = 0.0

    @staticmethod
    def _associated(sender: int, receiver: int, counter: int) -> bytes:
        return struct.pack(">4sIIQ", b"mpc1", sender, receiver, counter)

    def seal(self, payload, out=None):
        """Encrypt the next message (any buffer); into ``out`` (len(payload) + 16 bytes) if given."""
        began = time.perf_counter()
        counter, self.sent = self.sent, self.sent + 1
        nonce, associated = counter.to_bytes(12, "big"), self._associated(self.me, self.peer, counter)
        if out is None:
            out = self._send.encrypt(nonce, payload, associated)
        else:
            self._send.encrypt_into(nonce, payload, associated, out)
        self.seconds += time.perf_counter() - began
        return out

    def open(self, sealed, out=None):
        """Authenticate and decrypt the next message; into ``out`` (len(sealed) − 16 bytes) if given."""
        began = time.perf_counter()
        counter = self.received
        nonce, associated = counter.to_bytes(12, "big"), self._associated(self.peer, self.me, counter)
        try:
            if out is None:
                payload = self._recv.decrypt(nonce, sealed, associated)
            else:
                self._recv.decrypt_into(nonce, sealed, associated, out)
                payload = out
        except InvalidTag:
            raise MessageAuthenticationError(
                f"message #{counter} from {party_label(self.peer, self.parties)} to "
                f"{party_label(self.me, self.parties)} failed authentication: forged, replayed, reordered or "
                "garbled on the way") from None
        self.received += 1
        self.seconds += time.perf_counter() - began
        return payload


class _Handshake:
    """One side's state between sending its hello and receiving the peer's signature."""

    def __init__(self, me: int, peer: int, identity: Identity):
        self.me, self.peer, self.identity = me, peer, identity
        self.ephemeral = x25519.X25519PrivateKey.generate()
        self.hello = identity.public_key.public_bytes(*_RAW) + self.ephemeral.public_key().public_bytes(*_RAW)


def hello(me: int, peer: int, identity: Identity) -> _Handshake:
    """Start a handshake with ``peer``: send ``state.hello`` (64 bytes), keep ``state``."""
    return _Handshake(me, peer, identity)


def _transcript(state: _Handshake, peer_hello: bytes) -> bytes:
    low, high = sorted([(state.me, state.hello), (state.peer, peer_hello)])
    return CONTEXT + struct.pack(">II", low[0], high[0]) + low[1] + high[1]


def sign_transcript(state: _Handshake, peer_hello: bytes, roster: Roster, parties: int) -> bytes:
    """Check the peer's identity against the roster; return this side's signature to send."""
    if len(peer_hello) != HELLO_SIZE:
        raise ImpersonationError(f"malformed handshake from {party_label(state.peer, parties)}")
    roster.check(state.peer, ed25519.Ed25519PublicKey.from_public_bytes(peer_hello[:32]), parties)
    state.peer_hello = peer_hello
    return state.identity.signing_key.sign(_transcript(state, peer_hello) + struct.pack(">I", state.me))


def finish_handshake(state: _Handshake, peer_signature: bytes, parties: int) -> tuple[Channel, bytes]:
    """Verify the peer's signature; return the channel and the pair's 32-byte PRG seed."""
    transcript = _transcript(state, state.peer_hello)
    peer_identity = ed25519.Ed25519PublicKey.from_public_bytes(state.peer_hello[:32])
    try:
        peer_identity.verify(peer_signature, transcript + struct.pack(">I", state.peer))
    except InvalidSignature:
        raise ImpersonationError(f"{party_label(state.peer, parties)}'s handshake signature does not verify: "
                                 "someone without its identity key is speaking for it") from None
    try:
        shared = state.ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(state.peer_hello[32:]))
    except ValueError:
        raise ImpersonationError(f"{party_label(state.peer, parties)} sent an invalid ephemeral key") from None
    material = HKDF(algorithm=hashes.SHA256(), length=96, salt=hashlib.sha256(transcript).digest(),
                    info=b"course_lib mpc channel v1").derive(shared)
    low_to_high, high_to_low, seed = material[:32], material[32:64], material[64:]
    send, recv = (low_to_high, high_to_low) if state.me < state.peer else (high_to_low, low_to_high)
    return Channel(state.me, state.peer, parties, send, recv), seed
