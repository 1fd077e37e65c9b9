"""SPDZ2k MACs: partial openings and the MAC check that catches a party that changes them (chapter 08).

Cramer, Damgård, Escudero, Scholl and Xing, "SPDZ2k: Efficient MPC mod 2^k for Dishonest
Majority" (CRYPTO 2018); MP-SPDZ implements it for production (its ``spdz2k-party.x``).

A value x lives in Z_2^k, but every party's share xᵢ, the shares αᵢ of the global MAC key α and
the shares mᵢ of the MAC α·x live in the **wider** ring Z_2^(k+s). The authenticated mode uses
two such rings, both with at least 63 bits that catch errors:

* **arithmetic**: values in Z_2^64, shares and MACs in Z_2^128 (k = s = 64; ``wide.Wide`` limbs);
* **binary**: bits in Z_2 = Z_2^1, shares and MACs in Z_2^64 (k = 1, s = 63; numpy uint64), so
  XOR is addition and AND is an authenticated Beaver product.

**Openings.** A value is opened whole: every party sends its share in Z_2^(k+s). The upper s
bits of a sum can hold carries of earlier products that tell something about the inputs, so
nothing is opened unmasked: Beaver's e = x − a, a truncation's x + r and an input's x − r use
masks r uniform in all of Z_2^(k+s), and a comparison or an output adds 2^k·t for a random t
from the dealer, which leaves the low k bits alone and hides the rest. :func:`open_values`
records every opened value with this party's MAC share.

**The check** (:func:`check_macs`) covers every value opened since the last check, both rings
at once, in 3 rounds (4 for a run's first check):

1. a coin toss fixes coefficients χⱼ ∈ Z_2^s nobody could predict when choosing what to send:
   every party committed to a seed *before* those values were opened (during the previous check;
   the first check commits first, one round more) and now reveals it;
2. each party computes zᵢ = Σⱼ χⱼ·mᵢⱼ − αᵢ·Σⱼ χⱼ·xⱼ, commits to it (in the same message, to its
   seed for the next check's coin), then reveals it; Σᵢ zᵢ must be 0 modulo 2^(k+s).

Honest parties pass always. A party that added δ ≢ 0 (mod 2^k) to what it sent must make
Σ zᵢ = 0 anyway, i.e. guess α·Σχⱼδⱼ mod 2^(k+s) without knowing α; the s extra bits leave it
a chance of at most 2^(−s + log₂(s + 1)) per check (the paper's bound): 2^−57 here, for an error
in any bit, the top one included (:data:`STATISTICAL_SECURITY_BITS`). Compare the course's toy
MACs in the value ring itself (``course_lib.toy.spdz64``): an error in the top bit escapes 3
times in 4.

**Why whole openings.** Opening only the low k bits would need each party to send, after χ is
known, the sum Σⱼ χⱼ·(its high part) unchecked; a cheater that changed an opened value by δ can
then add Σχⱼδⱼ/2^k to that sum and pass whenever Σχⱼδⱼ ≡ 0 (mod 2^k): for a single error in the
top bit, whenever χ is even — half the time (chapter 08 simulates it).

**Aborts.** Whether a check catches a change depends only on the change and on the random key and
coefficients, never on anyone's data (every opened value is masked in all its bits), so an abort
tells the cheater nothing about the inputs. But a cheater can always make a run stop, and when an
output is opened to everyone it sees that output before the last check and can then abort,
leaving the honest parties without it.

**Not covered:** a cheating dealer (it knows α and deals everything), aborts (above), and a party
that stops answering (denial of service).
"""
from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import torch

from .errors import CheatingDetectedError
from .prg import PRG
from .wide import Wide

__all__ = ["ARITHMETIC", "BINARY", "STATISTICAL_SECURITY_BITS", "escape_bound", "open_values", "check_macs",
           "commit_and_reveal"]

ARITHMETIC = {"k": 64, "s": 64}
BINARY = {"k": 1, "s": 63}
_LOW63 = np.uint64(2**63 - 1)


def escape_bound(s: int) -> float:
    """The paper's bound on the chance that any error passes one check: 2^(−s + log₂(s + 1))."""
    return 2.0 ** (-s + math.log2(s + 1))


STATISTICAL_SECURITY_BITS = math.floor(min(-math.log2(escape_bound(r["s"])) for r in (ARITHMETIC, BINARY)))


class PendingOpenings:
    """What this party opened since the last check: each value as opened, and its MAC share."""

    def __init__(self):
        self.arithmetic: list[tuple[Wide, Wide]] = []
        self.binary: list[tuple[np.ndarray, np.ndarray]] = []


def open_values(ctx, arithmetic=(), binary=(), label: str = "open"):
    """Open authenticated values in one round: (share, MAC) pairs in Z_2^128 and in Z_2^64, whole.

    Returns (list of :class:`Wide` values, list of uint64 values); a value in Z_2^64 is read mod
    2^64 (its low limb), a bit mod 2. The message is every arithmetic low limb, then every high
    limb, then the binary shares; a cheating party's program may change it through
    ``ctx.tamper(label, message)`` (chapter 08).
    """
    parts = ([share.lo.reshape(-1) for share, _ in arithmetic] + [share.hi.reshape(-1) for share, _ in arithmetic]
             + [share.reshape(-1) for share, _ in binary])
    message = torch.from_numpy(np.concatenate(parts).view(np.int64) if parts else np.zeros(0, np.int64))
    if ctx.tamper is not None:
        message = ctx.tamper(label, message)
    received = ctx.comm.exchange(message, label)
    if ctx.is_dealer:
        return ([Wide.zeros(share.shape) for share, _ in arithmetic],
                [np.zeros(share.shape, np.uint64) for share, _ in binary])
    total = np.zeros(message.numel(), dtype=np.uint64)
    n_arith = sum(share.lo.size for share, _ in arithmetic)
    low = Wide.zeros((n_arith,))
    for r in received:
        words = r.numpy().view(np.uint64)
        low = low + Wide(words[:n_arith], words[n_arith:2 * n_arith])
        total += words
    values, start = [], 0
    for share, mac in arithmetic:
        value = low[start:start + share.lo.size].reshape(share.shape)
        ctx.pending.arithmetic.append((value, mac))
        values.append(value)
        start += share.lo.size
    opened_bits, start = [], 2 * n_arith
    for share, mac in binary:
        value = total[start:start + share.size].reshape(share.shape)
        ctx.pending.binary.append((value, mac))
        opened_bits.append(value)
        start += share.size
    if ctx.view is not None:
        ctx.view.append((label, [v.copy() for v in values] + [b.copy() for b in opened_bits]))
    return values, opened_bits


class Committed:
    """This party's committed payload (with its nonce), and every party's commitment to its own, until revealed."""

    __slots__ = ("what", "place", "body", "commitments")

    def __init__(self, what: str, place: int, body: bytes):
        self.what, self.place, self.body, self.commitments = what, place, body, []


def _bound(rank: int, what: str, place: int, body: bytes) -> bytes:
    """The commitment names its author and its place in the run: a party cannot echo another's or replay its own."""
    return hashlib.sha256(f"{rank} {what} {place} ".encode() + body).digest()


def commit(ctx, payloads: dict[str, bytes]) -> dict[str, Committed]:
    """Commit to each payload (by name) in one round: the message is one SHA-256 commitment per payload.

    A party's payloads have the same lengths as every other party's. :func:`reveal` opens each one later.
    """
    mine, states = [], {}
    for what, payload in payloads.items():
        if ctx.tamper is not None:     # a cheater commits to what it then reveals: only the check can catch it
            payload = ctx.tamper(what, torch.frombuffer(bytearray(payload), dtype=torch.uint8)).numpy().tobytes()
        ctx.commitments = getattr(ctx, "commitments", 0) + 1
        states[what] = Committed(what, ctx.commitments, payload + os.urandom(16))
        mine.append(_bound(ctx.rank, what, ctx.commitments, states[what].body))
    message = torch.frombuffer(bytearray(b"".join(mine)), dtype=torch.uint8)
    received = ctx.comm.exchange(message, f"{next(iter(payloads))} commit")
    for k, state in enumerate(states.values()):
        state.commitments = [r.numpy().tobytes()[32 * k:32 * (k + 1)] for r in received]
    return states


def reveal(ctx, state: Committed) -> list[bytes]:
    """Every party's payload committed to in ``state``, checked against its commitment. One round."""
    revealed = ctx.comm.exchange(torch.frombuffer(bytearray(state.body), dtype=torch.uint8), f"{state.what} reveal")
    payloads = []
    for rank, (commitment, opened) in enumerate(zip(state.commitments, revealed)):
        opened = opened.numpy().tobytes()
        if _bound(rank, state.what, state.place, opened) != commitment:
            raise CheatingDetectedError(f"party {rank} opened a {state.what} that differs from its commitment: "
                                        "aborting before any output is revealed")
        payloads.append(opened[:-16])
    return payloads


def commit_and_reveal(ctx, payload: bytes, what: str) -> list[bytes]:
    """Every party's ``payload`` (equal lengths), each committed to before any was revealed. Two rounds."""
    return reveal(ctx, commit(ctx, {what: payload})[what])


def check_macs(ctx) -> None:
    """Verify every value opened since the last check (both rings); raise CheatingDetectedError on failure.

    Every party and the dealer call it at the same points of the program (the dealer returns at once).
    """
    if ctx.is_dealer:
        return
    with np.errstate(over="ignore"):
        _check(ctx)


def _check(ctx) -> None:
    pending, ctx.pending = ctx.pending, PendingOpenings()
    if getattr(ctx, "coin", None) is None:      # a run's first check; each later one was committed to by the one before
        ctx.coin = commit(ctx, {"coin": os.urandom(32)})["coin"]
    seeds = reveal(ctx, ctx.coin)
    coefficients = PRG(hashlib.sha256(b"".join(seeds)).digest())
    keys = ctx.mac_keys
    y_a, m_a = Wide.zeros(()), Wide.zeros(())
    if pending.arithmetic:                    # every opened value in one array, then one coefficient each
        x = Wide.cat([x.reshape(-1) for x, _ in pending.arithmetic])
        mac = Wide.cat([mac.reshape(-1) for _, mac in pending.arithmetic])
        chi = coefficients.words(x.lo.size)                                  # χ in Z_2^64 = Z_2^s
        y_a, m_a = x.scale(chi).sum(), mac.scale(chi).sum()
    y_b, m_b = np.uint64(0), np.uint64(0)
    if pending.binary:
        x = np.concatenate([x.reshape(-1) for x, _ in pending.binary])
        mac = np.concatenate([mac.reshape(-1) for _, mac in pending.binary])
        chi = coefficients.words(x.size) & _LOW63                            # χ in Z_2^63 = Z_2^s
        y_b, m_b = (chi * x).sum(dtype=np.uint64), (chi * mac).sum(dtype=np.uint64)
    z_a = m_a - y_a.scale(keys.arithmetic)
    z_b = m_b - keys.binary * y_b
    payload = np.array([z_a.lo, z_a.hi, z_b], dtype=np.uint64).tobytes()
    total_a, total_b = Wide.zeros(()), np.uint64(0)
    committed = commit(ctx, {"MAC check": payload, "coin": os.urandom(32)})    # and the next check's coin
    ctx.coin = committed["coin"]
    for z in reveal(ctx, committed["MAC check"]):
        words = np.frombuffer(z, dtype="<u8")
        total_a, total_b = total_a + Wide(words[0], words[1]), total_b + words[2]
    if total_a.lo != 0 or total_a.hi != 0 or total_b != 0:
        raise CheatingDetectedError("MAC check failed: a party changed a value it opened; aborting before any "
                                    "output is revealed")
