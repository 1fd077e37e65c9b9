"""The communicator: how parties exchange shares (chapters 07–08).

Ranks 0 … n−1 are the computing parties; rank n is the dealer. Two implementations share
one interface:

* :class:`InProcessComm` — every party is a thread of this process; messages are tensors
  passed through queues and **counted** (rounds, bytes);
* :class:`DistributedComm` — one OS process per party over a gloo process group (TCP).

Both carry raw bytes; with secure channels (``course_lib.mpc.channel``) every message is sealed
with AES-GCM for its receiver, so the wire shows only ciphertext.

A *round* is one ``exchange``: every party sends one message to every other party and waits
for theirs. Messages from the dealer are counted separately: they do not depend on the data
and can be sent ahead of time.
"""
from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy
import torch

from .channel import TAG_SIZE
from .errors import MPCError, MPCTimeoutError, PartyFailedError, party_label


__all__ = ["Cost", "Stats", "Communicator", "InProcessHub", "InProcessComm", "DistributedComm"]


@dataclass(frozen=True)
class Cost:
    """A party's communication so far — or, as ``after - before``, between two moments."""
    rounds: int = 0
    bytes_sent: int = 0
    dealer_bytes: int = 0

    def __sub__(self, before: "Cost") -> "Cost":
        return Cost(self.rounds - before.rounds, self.bytes_sent - before.bytes_sent,
                    self.dealer_bytes - before.dealer_bytes)


@dataclass
class Stats:
    """What one party sent: rounds of exchange, bytes to other parties, bytes from the dealer."""
    rounds: int = 0
    bytes_sent: int = 0
    dealer_bytes: int = 0
    by_label: dict = field(default_factory=dict)

    def record(self, label: str, nbytes: int) -> None:
        self.rounds += 1
        self.bytes_sent += nbytes
        entry = self.by_label.setdefault(label, [0, 0])
        entry[0] += 1
        entry[1] += nbytes

    def cost(self) -> Cost:
        """The totals now, as a :class:`Cost` (subtract an earlier one to get what happened in between)."""
        return Cost(self.rounds, self.bytes_sent, self.dealer_bytes)


class Communicator:
    """Interface: ``exchange`` among computing parties; ``send``/``recv`` for setup and the dealer.

    Implementations move raw ``uint8`` tensors (``send_raw``/``recv_raw``). When ``channels``
    holds a :class:`~course_lib.mpc.channel.Channel` per peer (set up by the handshake), every
    message is sealed with it; without channels messages travel in clear.
    """

    rank: int
    parties: int
    stats: Stats
    channels: dict | None = None

    @property
    def dealer_rank(self) -> int:
        """The dealer's rank: the one after the computing parties."""
        return self.parties

    @property
    def is_dealer(self) -> bool:
        return self.rank == self.parties

    def exchange(self, tensor: torch.Tensor, label: str = "exchange") -> list[torch.Tensor]:
        """Send ``tensor`` to every other party; return every party's tensor, indexed by rank."""
        if self.is_dealer:  # the dealer takes part in no exchange: it sees no shares of data
            return [torch.zeros_like(tensor) for _ in range(self.parties)]
        tensor = tensor.contiguous()
        for other in range(self.parties):
            if other != self.rank:
                self.send(other, tensor)
        others = [tensor if other == self.rank else self.recv(other, tensor) for other in range(self.parties)]
        self.stats.record(label, tensor.nbytes * (self.parties - 1))
        return others

    def all_reduce(self, tensor: torch.Tensor, op: Literal["add", "xor"] = "add",
                   label: str = "open") -> torch.Tensor:
        """Every party's ``tensor`` combined, at every party, in one round: their sum modulo 2^64
        (``op="add"``, additive shares) or their XOR (``op="xor"``, binary shares)."""
        if op not in ("add", "xor"):
            raise ValueError(f"op must be 'add' or 'xor', not {op!r}")
        total = torch.zeros_like(tensor)
        for share in self.exchange(tensor, label):
            if op == "xor":
                total ^= share
            else:
                total += share
        return total

    def gather_sum(self, dst: int, tensor: torch.Tensor, label: str = "reveal"):
        """Sum every party's tensor at party ``dst`` only (one round); others get ``None``."""
        if self.is_dealer:
            return None
        if self.rank != dst:
            self.send(dst, tensor.contiguous())
            self.stats.record(label, tensor.nbytes)
            return None
        total = tensor.clone()
        for other in range(self.parties):
            if other != dst:
                total += self.recv(other, tensor)
        self.stats.record(label, 0)
        return total

    def send(self, dst: int, tensor: torch.Tensor) -> None:
        """Send a tensor to ``dst`` (sealed if there is a channel)."""
        tensor = tensor.contiguous()
        if self.is_dealer:
            self.stats.dealer_bytes += tensor.nbytes
        if self.channels is None:
            self.send_raw(dst, tensor.reshape(-1).view(torch.uint8))
            return
        plain = tensor.numpy().reshape(-1).view(numpy.uint8)   # numpy, not torch: less overhead per message
        sealed = numpy.empty(plain.size + TAG_SIZE, dtype=numpy.uint8)
        self.channels[dst].seal(plain, sealed)
        self.send_raw(dst, torch.from_numpy(sealed))

    def recv(self, src: int, like: torch.Tensor) -> torch.Tensor:
        """Receive a tensor shaped like ``like`` from ``src`` (opened and authenticated if there is a channel)."""
        if src == self.parties:
            self.stats.dealer_bytes += like.nbytes
        if self.channels is None:
            return self.recv_raw(src, like.nbytes).view(like.dtype).reshape(like.shape)
        sealed = self.recv_raw(src, like.nbytes + TAG_SIZE).numpy()
        opened = numpy.empty(like.shape, dtype=like.numpy().dtype)
        self.channels[src].open(sealed, opened.reshape(-1).view(numpy.uint8))
        return torch.from_numpy(opened)

    @contextmanager
    def in_clear(self):
        """For measuring the channels' cost only: inside, messages travel unsealed.

        Every rank must enter and leave at the same step of the program (as with any SPMD step),
        or the next message is refused as garbled.
        """
        channels, self.channels = self.channels, None
        try:
            yield
        finally:
            self.channels = channels

    def send_raw(self, dst: int, data: torch.Tensor) -> None:
        """Send ``uint8`` bytes as they are, never sealed: for the handshake that sets up the channels."""
        raise NotImplementedError

    def recv_raw(self, src: int, nbytes: int) -> torch.Tensor:
        """Receive exactly ``nbytes`` unsealed bytes from ``src`` (the handshake's counterpart of ``send_raw``)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Wait for outstanding sends."""


class InProcessHub:
    """Queues between every pair of ranks, for parties running as threads of one process.

    ``tap`` (optional) sees every raw message on its way — ``tap(src, dst, data) -> data`` — so
    chapter 08 can read or tamper with "the wire".
    """

    def __init__(self, parties: int, timeout: float = 60.0, tap=None):
        self.parties, self.timeout, self.tap = parties, timeout, tap
        world = parties + 1
        self.queues = {(s, d): queue.Queue() for s in range(world) for d in range(world) if s != d}
        self.failed = threading.Event()  # set when any party fails, so the others stop waiting

    def comm(self, rank: int) -> "InProcessComm":
        return InProcessComm(self, rank)


class InProcessComm(Communicator):
    def __init__(self, hub: InProcessHub, rank: int):
        self.hub, self.rank, self.parties, self.stats = hub, rank, hub.parties, Stats()

    def send_raw(self, dst: int, data: torch.Tensor) -> None:
        data = data.clone()
        if self.hub.tap is not None:
            data = self.hub.tap(self.rank, dst, data)
        self.hub.queues[(self.rank, dst)].put(data)

    def recv_raw(self, src: int, nbytes: int) -> torch.Tensor:
        deadline = time.monotonic() + self.hub.timeout
        while True:
            try:
                data = self.hub.queues[(src, self.rank)].get(timeout=0.05)
                break
            except queue.Empty:
                if self.hub.failed.is_set():
                    raise MPCError("another party failed; stopping") from None
                if time.monotonic() > deadline:
                    raise MPCTimeoutError(f"{party_label(self.rank, self.parties)} waited {self.hub.timeout:.0f} s "
                                          f"for a message from {party_label(src, self.parties)}") from None
        if data.numel() != nbytes:
            raise MPCError(f"protocol out of step: expected {nbytes} bytes from {party_label(src, self.parties)}, "
                           f"got {data.numel()}")
        return data


class DistributedComm(Communicator):
    """Point-to-point messages over a gloo process group (one OS process per party)."""

    def __init__(self, rank: int, parties: int, group):
        self.group, self.rank, self.parties, self.stats = group, rank, parties, Stats()
        self._pending = []

    def _failed(self, peer: int, error: RuntimeError) -> MPCError:
        """gloo's error (C++ source path, 'GLHF') as one line naming the party and what to do."""
        who, text = party_label(peer, self.parties), str(error)
        if "closed by peer" in text or "reset by peer" in text or "Broken pipe" in text:
            return PartyFailedError(f"{who} stopped in the middle of the computation (its connection closed): "
                                    "the others cannot finish without it; start again, rank 0 first")
        if "timed out" in text.lower() or "timeout" in text.lower():
            return MPCTimeoutError(f"{who} sent nothing within the timeout: it may have stopped or lost the "
                                   "network; start again, rank 0 first (--timeout sets the wait)")
        reason = text.splitlines()[0].rsplit("] ", 1)[-1][:120] if text else type(error).__name__
        return MPCError(f"the connection to {who} failed ({reason}); start again, rank 0 first")

    def send_raw(self, dst: int, data: torch.Tensor) -> None:
        try:
            self._pending.append((self.group.send([data], dst, 0), data, dst))
            if len(self._pending) > 64:
                work, _, peer = self._pending.pop(0)
                self._wait(work, peer)
        except RuntimeError as error:
            raise self._failed(dst, error) from None

    def _wait(self, work, peer: int) -> None:
        try:
            work.wait()
        except RuntimeError as error:
            raise self._failed(peer, error) from None

    def recv_raw(self, src: int, nbytes: int) -> torch.Tensor:
        buffer = torch.empty(nbytes, dtype=torch.uint8)
        try:
            work = self.group.recv([buffer], src, 0)
        except RuntimeError as error:
            raise self._failed(src, error) from None
        self._wait(work, src)
        return buffer

    def barrier(self) -> None:
        """Every party reaches this point (the last step of a run)."""
        try:
            self.group.barrier().wait()
        except RuntimeError as error:
            raise MPCError(f"a party stopped before the end of the computation ({str(error).splitlines()[0][-80:]}); "
                           "start again, rank 0 first") from None

    def finish(self) -> None:
        for work, _, peer in self._pending:
            self._wait(work, peer)
        self._pending.clear()
