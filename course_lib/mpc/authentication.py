"""SPDZ-style MACs on the arithmetic openings, and what they leave unchecked (chapter 08).

In authenticated mode every additively shared value x also carries shares of its MAC α·x, where
the global key α is itself secret-shared (the dealer hands out MACs with everything it deals).
Linear operations keep MACs valid locally; Beaver products, truncation, inputs and outputs use
authenticated values from the dealer. Every *arithmetic* value opened is recorded with this
party's MAC share (``opening.open_authenticated``), and :func:`check_macs` verifies them all
before any output is revealed:

1. each party commits to a random seed, then reveals it: the seeds fix random coefficients
   rⱼ ∈ Z_2^64 that no party could predict when it chose what to open (a coin toss);
2. each party computes σᵢ = Σⱼ rⱼ·(mᵢⱼ − αᵢ·vⱼ), commits to it, then reveals it;
3. Σᵢ σᵢ must be 0. A party that added δ to an opened value leaves Σᵢ σᵢ = −r·α·δ; to pass it
   must guess α·r·δ without knowing α, and otherwise the computation aborts.

**Escape rate.** Over Z_2^64 that guess is not hopeless. Write δ = 2^v·(odd); then r·α·δ ≡ 0
exactly when v₂(r) + v₂(α) ≥ 64 − v (v₂: the number of trailing zero bits), and no other guess
does better, so one error escapes with probability (m + 2)/2^(m+1), m = 64 − v
(:func:`escape_probability`): 3/4 for an error in the top bit (δ = 2^63: caught only when r and α
are both odd), 1/2 for bit 62, 2^−12.8 for bit 48, 2^−27.9 for bit 32, 2^−59.0 for an odd δ.
These are rates for one error in one check; a cheater that passed a check has learnt something
about α's low bits. SPDZ2k (Cramer, Damgård, Escudero, Scholl, Xing, CRYPTO 2018) computes MACs modulo
2^(64+s) to bring every rate below 2^−s.

**Not checked.** The comparison's openings are XOR shares (``compare.and_gates`` and
``compare.bit_to_arithmetic``): they carry no MAC, and the MAC of the resulting bit is computed
from the public c = bit ⊕ r, so a party that flips c gets a valid MAC for the flipped bit. A
party can therefore flip any comparison or ReLU bit undetected — the data owner can steer ReLUs
to learn every row of the second layer up to a positive factor (``attacks.steer_relus``), the
model owner can sabotage every prediction (``attacks.sabotage_relus``). Nor does the
check protect against a cheating dealer (it knows α and deals every triple), a party that aborts
after seeing a check's outcome (selective abort), or one that stops answering (denial of service).
"""
from __future__ import annotations

import hashlib
import os

import torch

from .errors import CheatingDetectedError
from .prg import PRG

__all__ = ["check_macs", "escape_probability"]


def _commit_and_reveal(ctx, payload: bytes, what: str) -> list[bytes]:
    """Every party's ``payload`` (equal lengths), each committed to before any was revealed. Two rounds."""
    nonce = os.urandom(16)
    commitment = hashlib.sha256(payload + nonce).digest()
    commitments = ctx.comm.exchange(torch.frombuffer(bytearray(commitment), dtype=torch.uint8), f"{what} commit")
    opened = ctx.comm.exchange(torch.frombuffer(bytearray(payload + nonce), dtype=torch.uint8), f"{what} reveal")
    payloads = []
    for rank, (commit, reveal) in enumerate(zip(commitments, opened)):
        reveal = reveal.numpy().tobytes()
        if hashlib.sha256(reveal).digest() != commit.numpy().tobytes():
            raise CheatingDetectedError(f"party {rank} opened a {what} that differs from its commitment: aborting")
        payloads.append(reveal[:-16])
    return payloads


def escape_probability(delta: int, bits: int = 64) -> float:
    """The chance that one error ``delta`` in one opened value passes :func:`check_macs` (module docstring).

    With r and α uniform in Z_2^bits and δ = 2^v·(odd): P(v₂(r) + v₂(α) ≥ bits − v) = (m + 2)/2^(m+1), m = bits − v.
    """
    delta %= 2**bits
    if delta == 0:
        raise ValueError("an error of 0 is no error")
    m = bits - ((delta & -delta).bit_length() - 1)
    return (m + 2) / 2 ** (m + 1)


def check_macs(ctx) -> None:
    """Verify every arithmetic value opened since the last check against its MAC; raise CheatingDetectedError
    if the check fails (an error escapes with :func:`escape_probability`; XOR openings are not checked)."""
    if ctx.is_dealer or not ctx.openings:
        return
    seeds = _commit_and_reveal(ctx, os.urandom(32), "coin")
    coefficients = PRG(hashlib.sha256(b"".join(seeds)).digest())
    sigma = torch.zeros((), dtype=torch.int64)
    for value, mac in ctx.openings:
        r = coefficients.ring(value.shape)
        sigma = sigma + (r * (mac - ctx.mac_key * value)).sum()
    ctx.openings = []
    sigmas = _commit_and_reveal(ctx, sigma.reshape(1).numpy().tobytes(), "MAC check")
    total = sum(int.from_bytes(s, "little", signed=True) for s in sigmas) % 2**64
    if total != 0:
        raise CheatingDetectedError("MAC check failed: a party changed an arithmetic value it opened; aborting "
                                    "before any output is revealed")
