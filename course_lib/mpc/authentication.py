"""SPDZ-style MACs: detecting a party that changes what it opens (chapter 08).

In authenticated mode every shared value x also carries shares of its MAC α·x, where the global
key α is itself secret-shared (the dealer hands out MACs with everything it deals). Linear
operations keep MACs valid locally; Beaver products, truncation, inputs and outputs use
authenticated values from the dealer. Every value opened is recorded with this party's MAC
share (``opening.open_authenticated``), and :func:`check_macs` verifies them all before any output is revealed:

1. each party commits to a random seed, then reveals it: the seeds fix random coefficients
   rⱼ that no party could predict when it chose what to open (a coin toss);
2. each party computes σᵢ = Σⱼ rⱼ·(mᵢⱼ − αᵢ·vⱼ), commits to it, then reveals it;
3. Σᵢ σᵢ must be 0. A party that added δ to an opened value would have had to add α·δ to its
   MAC share without knowing α; the check fails and the computation aborts.

Over Z_2^64 this detects an error δ except with probability about 2^−(64−v), where 2^v is the
largest power of two dividing δ: an error in the top bits is caught only half of the time.
SPDZ2k (Cramer, Damgård, Escudero, Scholl, Xing, CRYPTO 2018) fixes that by computing MACs
modulo 2^(64+s). The binary part of the comparison (the adder on XOR shares) is not
authenticated here: a party can still flip a comparison result undetected.
"""
from __future__ import annotations

import hashlib
import os

import torch

from .errors import CheatingDetectedError
from .prg import PRG

__all__ = ["check_macs"]


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


def check_macs(ctx) -> None:
    """Verify every value opened since the last check against its MAC; raise CheatingDetectedError if any was changed."""
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
        raise CheatingDetectedError("MAC check failed: a party changed a value it opened; aborting before "
                                    "any output is revealed")
