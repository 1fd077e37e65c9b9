"""Secure aggregation from scratch, after Bonawitz et al., CCS 2017 (chapter 10).

The server learns the sum of the clients' updates and, within the threat model below, nothing
else about any one of them, even when some clients drop out. Each update is clipped and
quantised into the ring Z_2^k; each client adds a *pairwise mask* for every other client (from
X25519 key agreement, expanded by an AES-CTR PRG; +mask for the smaller number, −mask for the
larger, so they cancel in the sum) and a *self-mask* from its own seed. Both the mask key and
the self-mask seed are Shamir-shared t-of-n among the clients, so the server can remove the
masks of clients who drop out (it rebuilds their mask key) and the self-masks of those who did
not (it rebuilds their seeds) — never both for one client, which every client enforces.

Rounds, as in the paper, after one more: each client first sends a fresh random nonce, and the
round's identifier is the hash of the round's parameters and every client's nonce
(:func:`session_id`); everything after is bound to it. Then 0 advertise keys (signed by each
client's pinned Ed25519 identity over that identifier), 1 share keys (Shamir shares, encrypted
client to client through the server), 2 masked input, 3 unmasking. The server cannot make an
honest client's fresh nonce repeat, so nothing signed or encrypted in another round verifies in
this one, even if the server reuses its own label for the round. The cost: one more message
round and 18 bytes up, 18 bytes per client down.

Threat model: an honest-but-curious server and clients up to t − 1 of which collude with it;
together they learn the sum of the honest survivors' updates — a single update when only one
honest client survives — and nothing else about them. "Honest-but-curious" here means the server
delivers every message to every client and sends every client the same survivor list; that it
asks each client for each step once is not assumed: a :class:`Client` takes advertise,
share_keys, masked_input and unmask once each, in that order, and refuses anything else. Not
handled here (the paper's round 4 and SecAgg+ do more): a server that withholds some clients'
messages from others or lies about who dropped to different clients — against such an *active*
server Bonawitz et al. (CCS 2017, §6) guarantee only that it learns sums of at least t − c honest
inputs, a single input for c = t − 1 colluders — Sybil clients, malformed inputs, and wrong
unmasking shares chosen by malicious clients when exactly t shares of a secret arrive (with more,
they are refused: :meth:`Server.unmask`). What the sum itself reveals is not handled either: a
sum of k one-image gradients is the gradient of a batch of k, which gradient inversion attacks
(``course_lib.federated.invert_sum``); differential privacy bounds that.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import shamir
from .errors import ProtocolViolationError, RingOverflowError, TooManyDropoutsError
from .mpc.prg import PRG
from .pubkey import public_bytes

__all__ = ["clip_by_norm", "quantize", "clip_and_quantize", "dequantize", "ring_bits_for", "to_ring", "from_ring",
           "expand_mask", "mask_sign", "add_pairwise_masks", "pack", "unpack", "Config", "Client", "Server", "Result",
           "secure_aggregate", "client_bytes_sent", "new_identities", "session_id", "NONCE_BYTES"]

MAX_RING_BITS = 62
_SHARE_BYTES = 66                   # one Shamir share's y, an element of the 521-bit field
NONCE_BYTES = 16                    # each client's fresh contribution to the round identifier


# ------------------------------------------------------------------ clipping, quantisation, the ring
def clip_by_norm(update: np.ndarray, clip: float) -> np.ndarray:
    """``update`` scaled down, if needed, so that its L2 norm is at most ``clip``."""
    norm = float(np.linalg.norm(update))
    return update * (clip / norm) if norm > clip else update.copy()


def quantize(values: np.ndarray, clip: float, bits: int) -> np.ndarray:
    """Signed integers in [−(2^(bits−1) − 1), 2^(bits−1) − 1]: ``values`` ∈ [−clip, clip] rounded to a grid.

    The grid step is clip / (2^(bits−1) − 1), so each value moves by at most half a step.
    Values outside [−clip, clip] are clamped (clip by norm first, which bounds every coordinate).
    """
    levels = 2 ** (bits - 1) - 1
    return np.rint(np.clip(values, -clip, clip) * (levels / clip)).astype(np.int64)


def clip_and_quantize(update: np.ndarray, clip: float, bits: int) -> np.ndarray:
    """``update`` clipped and quantised so that the integers still stand for a vector of norm ≤ ``clip``.

    Rounding moves each of d coordinates by at most half a step, so it can lengthen a vector of
    norm C by up to ½·√d steps: the update is clipped to C − ½·√d·step first. (Agarwal, Kairouz &
    Liu, NeurIPS 2021, round at random instead and check the norm after.) Used where the norm is a
    DP sensitivity (``federated.SecureMean``).
    """
    step = clip / (2 ** (bits - 1) - 1)
    slack = 0.5 * math.sqrt(len(update)) * step
    if slack >= clip:
        raise ValueError(f"{bits} bits are too few for {len(update)} values: rounding alone could move the norm by "
                         f"{slack / clip:.2f}·clip")
    return quantize(clip_by_norm(update, clip - slack), clip, bits)


def dequantize(integers: np.ndarray, clip: float, bits: int) -> np.ndarray:
    """The values a (sum of) quantised integers stand for."""
    return integers.astype(np.float64) * (clip / (2 ** (bits - 1) - 1))


def ring_bits_for(clients: int, bits: int) -> int:
    """The smallest k whose ring Z_2^k holds the sum of ``clients`` values of ``bits`` signed bits.

    Each value lies in [−L, L] with L = 2^(bits−1) − 1, so the sum lies in [−nL, nL]: 2nL + 1
    values, fewer than n · 2^bits ≤ 2^(bits + ⌈log2 n⌉).
    """
    return bits + math.ceil(math.log2(clients)) if clients > 1 else bits


def to_ring(integers: np.ndarray, ring_bits: int) -> np.ndarray:
    """Signed integers as elements of Z_2^k (uint64, two's complement reduced mod 2^k)."""
    return integers.astype(np.int64).view(np.uint64) & np.uint64((1 << ring_bits) - 1)


def from_ring(elements: np.ndarray, ring_bits: int) -> np.ndarray:
    """Elements of Z_2^k read back as signed integers in [−2^(k−1), 2^(k−1))."""
    elements = elements.astype(np.uint64) & np.uint64((1 << ring_bits) - 1)
    signed = elements.astype(np.int64)
    return np.where(signed >= 1 << (ring_bits - 1), signed - (1 << ring_bits), signed)


def expand_mask(seed: bytes, length: int, ring_bits: int) -> np.ndarray:
    """``length`` uniform elements of Z_2^k from a 32-byte seed (AES-256-CTR, chapter 07's PRG)."""
    width = 4 if ring_bits <= 32 else 8
    words = np.frombuffer(PRG(seed).random_bytes(width * length), dtype=f"<u{width}")
    return words.astype(np.uint64) & np.uint64((1 << ring_bits) - 1)


def mask_sign(me: int, peer: int) -> int:
    """+1 if ``me`` adds the pairwise mask it shares with ``peer``, −1 if it subtracts it."""
    return 1 if me < peer else -1


def add_pairwise_masks(me: int, values: np.ndarray, pair_seeds: dict[int, bytes], ring_bits: int) -> np.ndarray:
    """``values`` (ring elements) with the mask of every seed in ``pair_seeds`` ({peer: seed}) added or
    subtracted as :func:`mask_sign` says, mod 2^k: the masks of all clients cancel in the sum."""
    total = values.astype(np.uint64)
    for peer, seed in pair_seeds.items():
        mask = expand_mask(seed, len(values), ring_bits)
        total = total + mask if mask_sign(me, peer) > 0 else total - mask
    return total & np.uint64((1 << ring_bits) - 1)


def pack(elements: np.ndarray, ring_bits: int) -> bytes:
    """Elements of Z_2^k packed into exactly ⌈count · k / 8⌉ bytes: what a client sends."""
    bits = np.unpackbits(elements.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    return np.packbits(bits[:, :ring_bits].reshape(-1), bitorder="little").tobytes()


def unpack(data: bytes, ring_bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack`; refuses data of the wrong length."""
    if len(data) != (count * ring_bits + 7) // 8:
        raise ProtocolViolationError(f"a masked input of {count} elements of {ring_bits} bits is "
                                     f"{(count * ring_bits + 7) // 8} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[:count * ring_bits]
    full = np.zeros((count, 64), dtype=np.uint8)
    full[:, :ring_bits] = bits.reshape(count, ring_bits)
    return np.packbits(full, axis=1, bitorder="little").view("<u8").reshape(count).astype(np.uint64)


# ------------------------------------------------------------------ the protocol
@dataclass(frozen=True)
class Config:
    """One aggregation round: ``clients`` numbered 1…n, any ``threshold`` of whom suffice.

    ``round_id`` is the server's label for the round. It goes into :func:`session_id`, but gives
    no freshness by itself: the server picks it and may reuse it. The clients' nonces do.
    """
    clients: int
    threshold: int
    length: int
    bits: int = 16
    ring_bits: int = 0                  # 0: the smallest ring that holds the sum (ring_bits_for)
    round_id: bytes = field(default_factory=lambda: os.urandom(16))

    def __post_init__(self):
        if not self.clients // 2 < self.threshold <= self.clients:
            raise ValueError(f"the threshold must be a majority, n/2 < t ≤ n: got t = {self.threshold} "
                             f"of n = {self.clients}")
        if not self.ring_bits:
            object.__setattr__(self, "ring_bits", ring_bits_for(self.clients, self.bits))
        if self.ring_bits > MAX_RING_BITS:
            raise ValueError(f"at most {MAX_RING_BITS} ring bits, got {self.ring_bits}")
        if self.ring_bits < ring_bits_for(self.clients, self.bits):
            raise RingOverflowError(f"the sum of {self.clients} values of {self.bits} bits needs "
                                    f"{ring_bits_for(self.clients, self.bits)} ring bits; with {self.ring_bits} it "
                                    f"would wrap around")


def _number(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _hkdf(shared: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def _pair(a: int, b: int) -> bytes:
    return _number(min(a, b)) + _number(max(a, b))


def session_id(config: Config, nonces: dict[int, bytes]) -> bytes:
    """The identifier a round's signatures, keys and shares are bound to: SHA-256 of the round's
    parameters and of every client's join message (its number and fresh nonce), in client order.

    Each honest client checks that its own fresh nonce is in the list it signs, so no signature,
    pairwise seed or share made for another round is valid in this one.
    """
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"secagg round" + b"".join(value.to_bytes(8, "big") for value in (
        config.clients, config.threshold, config.length, config.bits, config.ring_bits, len(config.round_id)))
        + config.round_id)
    for number in sorted(nonces):
        digest.update(_number(number) + nonces[number])
    return digest.finalize()


def _mask_seed(private: x25519.X25519PrivateKey, peer_public: x25519.X25519PublicKey, session: bytes,
               me: int, peer: int) -> bytes:
    """The pairwise mask seed of ``me`` and ``peer``: both sides (and a server that rebuilt a key) get the same."""
    return _hkdf(private.exchange(peer_public), b"secagg mask" + session + _pair(me, peer))


_STEPS = ("advertise", "share_keys", "masked_input", "unmask")
_REPEATED = {"advertise": "already advertised keys for a round; a client object takes part in one round only",
             "share_keys": "already shared its keys for this round: a second sharing would hand out fresh shares "
                           "of the same secrets",
             "masked_input": "already sent its masked input for this round: masking again, with fewer peers, would "
                             "let the server remove the masks of the peers it left out",
             "unmask": "already answered the unmasking round: a second request could reveal both secrets of one "
                       "client"}


class Client:
    """One client in one round of :class:`Config`: its identity key signs its round keys; ``roster``
    pins everyone's. A client object takes part in one round only: fresh keys, nonce and seeds.

    It is a strict state machine: :meth:`advertise`, :meth:`share_keys`, :meth:`masked_input` and
    :meth:`unmask`, each exactly once and in that order (:meth:`join` only repeats the nonce). A
    repeated or out-of-order step is refused with ``ProtocolViolationError``; a refused call
    changes nothing and sends nothing.
    """

    def __init__(self, number: int, identity: ed25519.Ed25519PrivateKey, roster: dict, config: Config):
        if number not in roster:
            raise ProtocolViolationError(f"client {number} is not on the roster")
        self.number, self.identity, self.roster, self.config = number, identity, roster, config
        self._channel_key, self._mask_key = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
        self._self_seed = os.urandom(32)
        self._nonce = os.urandom(NONCE_BYTES)
        self.session: bytes | None = None                                  # set when I advertise
        self._peers: dict[int, tuple[x25519.X25519PublicKey, x25519.X25519PublicKey]] = {}
        self._held: dict[int, tuple[shamir.Share, shamir.Share]] = {}      # shares others gave me
        self._senders: set[int] = set()
        self._done = 0                                                     # steps of _STEPS taken

    def _check_step(self, step: str) -> None:
        """Refuse ``step`` unless every earlier step, and not this one, has been taken."""
        index = _STEPS.index(step)
        if self._done > index:
            raise ProtocolViolationError(f"client {self.number} {_REPEATED[step]}")
        if self._done < index:
            raise ProtocolViolationError(f"client {self.number} was asked for {step} before {_STEPS[self._done]}: "
                                         f"the steps are {', '.join(_STEPS)}, each once and in that order")

    # before round 0: my fresh contribution to the round identifier
    def join(self) -> bytes:
        """My number and a fresh random nonce: the server relays every client's to every client."""
        return _number(self.number) + self._nonce

    # round 0
    def advertise(self, joins: dict[int, bytes]) -> bytes:
        """My two public keys, signed with my identity over the round identifier made from ``joins``.

        ``joins`` is the server's list of every client's :meth:`join` message. Refused
        (``ProtocolViolationError``) if it lacks my own fresh nonce, as a list replayed from another
        round would, or is malformed; a second call is refused too (one round per client object).
        """
        self._check_step("advertise")
        for number, message in joins.items():
            if number not in self.roster:
                raise ProtocolViolationError(f"a nonce listed for client {number}, who is not on the roster")
            if len(message) != 2 + NONCE_BYTES or int.from_bytes(message[:2], "big") != number:
                raise ProtocolViolationError(f"the nonce listed for client {number} is malformed or names "
                                             f"another client")
        if joins.get(self.number) != self.join():
            raise ProtocolViolationError(f"the server's list of round nonces lacks client {self.number}'s fresh "
                                         f"nonce: it is replayed from another round, or altered")
        if len(joins) < self.config.threshold:
            raise TooManyDropoutsError(f"only {len(joins)} clients joined the round; the threshold is "
                                       f"{self.config.threshold}")
        self.session = session_id(self.config, {n: m[2:] for n, m in joins.items()})
        keys = public_bytes(self._channel_key.public_key()) + public_bytes(self._mask_key.public_key())
        body = _number(self.number) + keys
        self._done = 1
        return body + self.identity.sign(b"secagg advertise" + self.session + body)

    # round 1
    def share_keys(self, advertisements: dict[int, bytes]) -> dict[int, bytes]:
        """Verify everyone's keys, then one encrypted message per peer holding my two shares for it.

        Once per round, after :meth:`advertise`: a second sharing is refused.
        """
        self._check_step("share_keys")
        peers = {number: self._verify_advertisement(number, message) for number, message in advertisements.items()}
        if self.number not in peers:
            raise ProtocolViolationError(f"client {self.number}'s own keys are missing from the server's list")
        if len(peers) < self.config.threshold:
            raise TooManyDropoutsError(f"only {len(peers)} clients advertised keys; the threshold is "
                                       f"{self.config.threshold}")
        self._peers = peers
        n, t = self.config.clients, self.config.threshold
        raw_mask_key = self._mask_key.private_bytes_raw()
        key_shares = {s.x: s for s in shamir.split_secret(raw_mask_key, t, n)}
        seed_shares = {s.x: s for s in shamir.split_secret(self._self_seed, t, n)}
        self._held[self.number] = (key_shares[self.number], seed_shares[self.number])
        outbox = {}
        for peer in sorted(self._peers):
            if peer == self.number:
                continue
            plaintext = (key_shares[peer].y.to_bytes(_SHARE_BYTES, "big")
                         + seed_shares[peer].y.to_bytes(_SHARE_BYTES, "big"))
            header = _number(self.number) + _number(peer)
            nonce = os.urandom(12)
            outbox[peer] = header + nonce + AESGCM(self._channel(peer)).encrypt(nonce, plaintext,
                                                                                self._share_context(header))
        self._done = 2
        return outbox

    # round 2
    def masked_input(self, update: np.ndarray, inbox: dict[int, bytes]) -> bytes:
        """My quantised update (ring elements) plus my masks, packed; ``inbox`` holds my peers' shares.

        Once per round, after :meth:`share_keys`; an inbox from fewer than t − 1 peers is refused
        (``TooManyDropoutsError``). A second call is refused: otherwise a server holding my self-mask
        seed and the mask keys of clients that dropped could ask me to mask again with only those
        clients' shares in the inbox, strip every mask, and read my update.
        """
        self._check_step("masked_input")
        if len(update) != self.config.length:
            raise ValueError(f"the update has {len(update)} elements, the round expects {self.config.length}")
        held = {sender: self._open_shares(sender, message) for sender, message in inbox.items()}
        senders = set(held) | {self.number}
        if len(senders) < self.config.threshold:
            raise TooManyDropoutsError(f"only {len(senders)} clients shared keys with client {self.number}; the "
                                       f"threshold is {self.config.threshold}")
        k = self.config.ring_bits
        self_masked = update.astype(np.uint64) + expand_mask(self._self_seed, self.config.length, k)
        seeds = {peer: self.pairwise_seed(peer) for peer in sorted(senders - {self.number})}
        masked = pack(add_pairwise_masks(self.number, self_masked, seeds, k), k)
        self._held.update(held)
        self._senders, self._done = senders, 3
        return masked

    def pairwise_seed(self, peer: int) -> bytes:
        """The PRG seed I share with ``peer``: X25519 of our mask keys, through HKDF (chapter 03)."""
        return _mask_seed(self._mask_key, self._peers[peer][1], self.session, self.number, peer)

    # round 3
    def unmask(self, survivors) -> bytes:
        """For each peer that sent a masked input, its self-mask share; for each that did not, its mask-key share.

        Once per round, after :meth:`masked_input`. Refuses (``ProtocolViolationError``) a second
        request, a survivor list it does not know, or one below the threshold: revealing both
        secrets of one client would unmask its input.
        """
        self._check_step("unmask")
        survivors = set(survivors)
        if not survivors <= self._senders or self.number not in survivors:
            raise ProtocolViolationError(f"the survivor list {sorted(survivors)} names clients that never shared "
                                         f"keys with client {self.number}, or omits it")
        if len(survivors) < self.config.threshold:
            raise TooManyDropoutsError(f"only {len(survivors)} clients sent masked inputs; the threshold is "
                                       f"{self.config.threshold}")
        self._done = 4
        answer = bytearray(_number(self.number))
        for peer in sorted(self._senders):
            key_share, seed_share = self._held[peer]
            kind, share = (b"S", seed_share) if peer in survivors else (b"K", key_share)
            answer += _number(peer) + kind + share.y.to_bytes(_SHARE_BYTES, "big")
        return bytes(answer)

    # helpers
    def _verify_advertisement(self, number: int, message: bytes):
        identity = self.roster.get(number)
        if identity is None:
            raise ProtocolViolationError(f"keys advertised for client {number}, who is not on the roster")
        if len(message) != 2 + 64 + 64 or int.from_bytes(message[:2], "big") != number:
            raise ProtocolViolationError(f"the advertisement listed for client {number} is malformed or names "
                                         f"another client")
        body, signature = message[:-64], message[-64:]
        try:
            identity.verify(signature, b"secagg advertise" + self.session + body)
        except InvalidSignature:
            raise ProtocolViolationError(f"the keys listed for client {number} are not signed by client {number}'s "
                                         f"pinned identity for this round (substituted or replayed)") from None
        return (x25519.X25519PublicKey.from_public_bytes(body[2:34]),
                x25519.X25519PublicKey.from_public_bytes(body[34:66]))

    def _channel(self, peer: int) -> bytes:
        shared = self._channel_key.exchange(self._peers[peer][0])
        return _hkdf(shared, b"secagg channel" + self.session + _pair(self.number, peer))

    def _share_context(self, header: bytes) -> bytes:
        return b"secagg shares" + self.session + header

    def _open_shares(self, sender: int, message: bytes) -> tuple[shamir.Share, shamir.Share]:
        header = _number(sender) + _number(self.number)
        if sender not in self._peers or message[:4] != header:
            raise ProtocolViolationError(f"client {self.number} received shares addressed as from client "
                                         f"{int.from_bytes(message[:2], 'big')} to {int.from_bytes(message[2:4], 'big')}"
                                         f", delivered as from client {sender}")
        try:
            plaintext = AESGCM(self._channel(sender)).decrypt(message[4:16], message[16:], self._share_context(header))
        except InvalidTag:
            raise ProtocolViolationError(f"the shares from client {sender} to client {self.number} failed "
                                         f"authentication: changed, or from another round") from None
        return (shamir.Share(self.number, int.from_bytes(plaintext[:_SHARE_BYTES], "big")),
                shamir.Share(self.number, int.from_bytes(plaintext[_SHARE_BYTES:], "big")))


@dataclass
class Result:
    """What the server ends a round with, and what it saw on the way."""
    total: np.ndarray                       # the sum of the survivors' updates, in Z_2^k
    survivors: list[int]
    dropped: list[int]                      # shared keys, sent no masked input: mask keys rebuilt
    masked_inputs: dict[int, np.ndarray]    # the server's view of each client's update
    bytes_sent: dict[int, int]              # per client, over the four rounds
    bytes_received: dict[int, int]
    server_seconds: float
    client_seconds: dict[int, float]        # per client, over the four rounds


class Server:
    """The honest-but-curious server: routes messages, then removes the masks it can rebuild."""

    def __init__(self, config: Config):
        self.config = config
        self.session: bytes | None = None

    def relay_joins(self, joins: dict[int, bytes]) -> dict[int, bytes]:
        """Every client's join message, to be sent to every client; fixes the round identifier."""
        self.session = session_id(self.config, {n: m[2:] for n, m in joins.items()})
        return dict(joins)

    def route_shares(self, outboxes: dict[int, dict[int, bytes]]) -> dict[int, dict[int, bytes]]:
        inboxes: dict[int, dict[int, bytes]] = {}
        for sender, outbox in outboxes.items():
            for recipient, message in outbox.items():
                inboxes.setdefault(recipient, {})[sender] = message
        return inboxes

    def unmask(self, masked: dict[int, bytes], answers: dict[int, bytes], senders: set[int],
               mask_public_keys: dict[int, bytes]) -> tuple[np.ndarray, list[int]]:
        """The sum of the survivors' inputs from their masked inputs and ≥ t unmasking answers.

        Every share that arrives is used: a wrong one is refused (``ProtocolViolationError``)
        whenever t right shares of the same secret arrive too (:meth:`_rebuild`).
        """
        config, t = self.config, self.config.threshold
        if self.session is None:
            raise ProtocolViolationError("the server unmasks a round whose nonces it never relayed")
        if len(answers) < t:
            raise TooManyDropoutsError(f"only {len(answers)} clients answered the unmasking round; the threshold is "
                                       f"{t}: the sum cannot be recovered, and no update is made")
        survivors = set(masked)
        key_shares: dict[int, list] = {}
        seed_shares: dict[int, list] = {}
        for number, answer in answers.items():
            if int.from_bytes(answer[:2], "big") != number or (len(answer) - 2) % (3 + _SHARE_BYTES):
                raise ProtocolViolationError(f"the unmasking answer of client {number} is malformed")
            listed = [int.from_bytes(answer[at:at + 2], "big") for at in range(2, len(answer), 3 + _SHARE_BYTES)]
            if len(set(listed)) != len(listed):
                raise ProtocolViolationError(f"the unmasking answer of client {number} lists a client twice")
            for at in range(2, len(answer), 3 + _SHARE_BYTES):
                peer, kind = int.from_bytes(answer[at:at + 2], "big"), answer[at + 2:at + 3]
                share = shamir.Share(number, int.from_bytes(answer[at + 3:at + 3 + _SHARE_BYTES], "big"))
                (seed_shares if kind == b"S" else key_shares).setdefault(peer, []).append(share)
        k, length = config.ring_bits, config.length
        total = np.zeros(length, dtype=np.uint64)
        for number in sorted(survivors):
            total += unpack(masked[number], k, length)
            total -= expand_mask(self._rebuild(seed_shares, number, "self-mask seed"), length, k)
        dropped = sorted(senders - survivors)
        for number in dropped:
            mask_key = x25519.X25519PrivateKey.from_private_bytes(self._rebuild(key_shares, number, "mask key"))
            for peer in sorted(survivors):      # undo what the survivor added for the dropped client
                peer_key = x25519.X25519PublicKey.from_public_bytes(mask_public_keys[peer])
                mask = expand_mask(_mask_seed(mask_key, peer_key, self.session, number, peer), length, k)
                total = total - mask if mask_sign(peer, number) > 0 else total + mask
        return total & np.uint64((1 << k) - 1), dropped

    def _rebuild(self, shares: dict, number: int, what: str) -> bytes:
        """Client ``number``'s secret from every share that arrived; all must lie on one polynomial.

        Wrong shares, however chosen, are refused whenever at least t of the shares are right: no
        other polynomial of degree t − 1 passes through those t. The error names the clients whose
        shares are off the polynomial all but ⌊(m − t)/2⌋ of the m shares agree on; they are the
        wrong ones if no more than that many are wrong (more, shifted together, can frame an honest
        client). With exactly t shares, one chosen to shift the secret goes undetected: verifiable
        secret sharing (Feldman, FOCS 1987) would catch it; this course does not implement it.
        """
        found, t = shares.get(number, []), self.config.threshold
        if len(found) < t:
            raise TooManyDropoutsError(f"only {len(found)} shares of client {number}'s {what}; the threshold is {t}")
        try:
            return shamir.reconstruct(found, t, length=32)
        except ValueError:
            pass
        wrong = shamir.wrong_shares(found, t) if len(found) > t else None
        if wrong == []:
            raise ProtocolViolationError(
                f"the {len(found)} shares of client {number}'s {what} lie on one polynomial, but it encodes no 32-byte "
                f"secret: client {number} shared a malformed one") from None
        if wrong:
            who = f"client {wrong[0]}'s share is" if len(wrong) == 1 else \
                f"the shares of clients {', '.join(map(str, wrong))} are"
            raise ProtocolViolationError(
                f"the shares of client {number}'s {what} are inconsistent: {who} off the polynomial the other "
                f"{len(found) - len(wrong)} agree on (the wrong ones, if at most {(len(found) - t) // 2} of the "
                f"{len(found)} shares are wrong)") from None
        if len(found) > t:
            raise ProtocolViolationError(
                f"the {len(found)} shares of client {number}'s {what} are inconsistent, and too many disagree to "
                f"tell which clients sent wrong ones") from None
        raise ProtocolViolationError(
            f"the {t} shares of client {number}'s {what} do not decode to a 32-byte secret: a share is wrong, and "
            f"with exactly t shares there is no telling whose") from None


def client_bytes_sent(config: Config, peers: int | None = None) -> dict[str, int]:
    """What one client sends in a round where ``peers`` clients (all by default) take part, by round.

    ``expansion`` is the total over the bytes of the plain update (``length`` × ``bits`` / 8):
    Bonawitz et al. report 1.73× for 2^10 clients and 2^20 16-bit values (CCS 2017, Table 2).
    """
    n = config.clients if peers is None else peers
    sent = {"join": 2 + NONCE_BYTES,
            "advertise": 2 + 64 + 64,
            "share_keys": (n - 1) * (4 + 12 + 2 * _SHARE_BYTES + 16),
            "masked_input": (config.length * config.ring_bits + 7) // 8,
            "unmask": 2 + n * (3 + _SHARE_BYTES)}
    sent["total"] = sum(sent.values())
    sent["expansion"] = sent["total"] / (config.length * config.bits / 8)
    return sent


def new_identities(clients: int) -> tuple[dict, dict]:
    """Ed25519 identity keys for clients 1…n: ``(private keys, roster of public keys)``."""
    private = {number: ed25519.Ed25519PrivateKey.generate() for number in range(1, clients + 1)}
    return private, {number: key.public_key() for number, key in private.items()}


def secure_aggregate(updates: dict[int, np.ndarray], config: Config, *, drop_before_sharing=(),
                     drop_before_masking=(), drop_before_unmasking=(), identities=None) -> Result:
    """Run one round in this process: ``updates`` maps client number → its quantised update in Z_2^k.

    The ``drop_*`` sets say which clients go silent before which round. The result's ``total``
    is the sum over the clients that sent a masked input; with fewer than ``threshold`` clients
    left at any round, ``TooManyDropoutsError`` — never a wrong sum.
    """
    private, roster = identities or new_identities(config.clients)
    clients = {n: Client(n, private[n], roster, config) for n in updates}
    sent = {n: 0 for n in clients}
    received = {n: 0 for n in clients}
    client_time = {n: 0.0 for n in clients}

    def timed(number, method, *args):
        start = time.perf_counter()
        result = method(*args)
        client_time[number] += time.perf_counter() - start
        return result

    drop_before_sharing, drop_before_masking = set(drop_before_sharing), set(drop_before_masking)
    drop_before_unmasking = set(drop_before_unmasking)
    server = Server(config)
    alive = [n for n in clients if n not in drop_before_sharing]
    joins = server.relay_joins({n: timed(n, clients[n].join) for n in alive})
    adverts = {n: timed(n, clients[n].advertise, joins) for n in alive}
    for n in alive:
        sent[n] += len(joins[n]) + len(adverts[n])
        received[n] += sum(len(m) for m in joins.values()) + sum(len(m) for m in adverts.values())
    outboxes = {n: timed(n, clients[n].share_keys, adverts) for n in alive}
    inboxes = server.route_shares(outboxes)
    alive = [n for n in alive if n not in drop_before_masking]
    masked = {}
    for n in alive:
        sent[n] += sum(len(m) for m in outboxes[n].values())
        inbox = inboxes.get(n, {})
        received[n] += sum(len(m) for m in inbox.values())
        masked[n] = timed(n, clients[n].masked_input, updates[n], inbox)
        sent[n] += len(masked[n])
    if len(masked) < config.threshold:
        raise TooManyDropoutsError(f"only {len(masked)} clients sent masked inputs; the threshold is "
                                   f"{config.threshold}: the round fails, and no update is made")
    survivors = sorted(masked)
    answers = {}
    for n in survivors:
        received[n] += 2 * len(survivors)
        if n not in drop_before_unmasking:
            answers[n] = timed(n, clients[n].unmask, survivors)
            sent[n] += len(answers[n])
    senders = set(outboxes)
    start = time.perf_counter()
    total, dropped = server.unmask(masked, answers, senders, {n: adverts[n][34:66] for n in senders})
    server_seconds = time.perf_counter() - start
    k = config.ring_bits
    return Result(total, survivors, dropped, {n: unpack(m, k, config.length) for n, m in masked.items()},
                  sent, received, server_seconds, client_time)
