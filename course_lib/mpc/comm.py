"""The communicator: how parties exchange shares (chapters 07–08).

Ranks 0 … n−1 are the computing parties; rank n is the dealer. Two implementations share
one interface:

* :class:`InProcessComm` — every party is a thread of this process; messages are tensors
  passed through queues and **counted** (rounds, bytes);
* :class:`DistributedComm` — one OS process per party over ``torch.distributed`` (gloo, TCP).

A *round* is one ``exchange``: every party sends one message to every other party and waits
for theirs. Messages from the dealer are counted separately: they do not depend on the data
and can be sent ahead of time.
"""
from __future__ import annotations

import queue
from dataclasses import dataclass, field

import torch

from .errors import MPCError, MPCTimeoutError


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

    def snapshot(self) -> tuple[int, int, int]:
        return self.rounds, self.bytes_sent, self.dealer_bytes


class Communicator:
    """Interface: ``exchange`` among computing parties; ``send``/``recv`` for setup and the dealer."""

    rank: int
    parties: int
    stats: Stats

    @property
    def dealer(self) -> int:
        return self.parties

    @property
    def is_dealer(self) -> bool:
        return self.rank == self.parties

    def exchange(self, tensor: torch.Tensor, label: str = "exchange") -> list[torch.Tensor]:
        """Send ``tensor`` to every other party; return every party's tensor, indexed by rank."""
        if self.is_dealer:  # the dealer takes part in no exchange: it sees no shares of data
            return [torch.zeros_like(tensor) for _ in range(self.parties)]
        tensor = tensor.contiguous()
        others = self._exchange(tensor)
        self.stats.record(label, tensor.nbytes * (self.parties - 1))
        return others

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
        raise NotImplementedError

    def recv(self, src: int, like: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _exchange(self, tensor):
        raise NotImplementedError

    def finish(self) -> None:
        """Wait for outstanding sends."""


class InProcessHub:
    """Queues between every pair of ranks, for parties running as threads of one process."""

    def __init__(self, parties: int, timeout: float = 60.0):
        import threading
        self.parties, self.timeout = parties, timeout
        world = parties + 1
        self.queues = {(s, d): queue.Queue() for s in range(world) for d in range(world) if s != d}
        self.failed = threading.Event()  # set when any party fails, so the others stop waiting

    def comm(self, rank: int) -> "InProcessComm":
        return InProcessComm(self, rank)


class InProcessComm(Communicator):
    def __init__(self, hub: InProcessHub, rank: int):
        self.hub, self.rank, self.parties, self.stats = hub, rank, hub.parties, Stats()

    def send(self, dst: int, tensor: torch.Tensor) -> None:
        if self.is_dealer:
            self.stats.dealer_bytes += tensor.nbytes
        self.hub.queues[(self.rank, dst)].put(tensor.clone())

    def recv(self, src: int, like: torch.Tensor) -> torch.Tensor:
        import time
        deadline = time.monotonic() + self.hub.timeout
        while True:
            try:
                tensor = self.hub.queues[(src, self.rank)].get(timeout=0.05)
                break
            except queue.Empty:
                if self.hub.failed.is_set():
                    raise MPCError("another party failed; stopping") from None
                if time.monotonic() > deadline:
                    raise MPCTimeoutError(f"party {self.rank} waited {self.hub.timeout:.0f} s for a message from "
                                          f"{'the dealer' if src == self.parties else f'party {src}'}") from None
        if src == self.parties:
            self.stats.dealer_bytes += tensor.nbytes
        if tensor.shape != like.shape:
            raise RuntimeError(f"protocol out of step: expected shape {tuple(like.shape)}, got {tuple(tensor.shape)}")
        return tensor

    def _exchange(self, tensor):
        for other in range(self.parties):
            if other != self.rank:
                self.hub.queues[(self.rank, other)].put(tensor.clone())
        return [tensor if other == self.rank else self.recv(other, tensor) for other in range(self.parties)]


class DistributedComm(Communicator):
    """Point-to-point messages over an initialised ``torch.distributed`` gloo process group."""

    def __init__(self, rank: int, parties: int):
        import torch.distributed as dist
        self.dist, self.rank, self.parties, self.stats = dist, rank, parties, Stats()
        self._pending = []

    def send(self, dst: int, tensor: torch.Tensor) -> None:
        tensor = tensor.contiguous()
        if self.is_dealer:
            self.stats.dealer_bytes += tensor.nbytes
        self._pending.append((self.dist.isend(tensor, dst=dst), tensor))
        if len(self._pending) > 64:
            self._pending.pop(0)[0].wait()

    def recv(self, src: int, like: torch.Tensor) -> torch.Tensor:
        buffer = torch.empty_like(like)
        self.dist.recv(buffer, src=src)
        if src == self.parties:
            self.stats.dealer_bytes += buffer.nbytes
        return buffer

    def _exchange(self, tensor):
        sends = [self.dist.isend(tensor, dst=other) for other in range(self.parties) if other != self.rank]
        received = [tensor if other == self.rank else self.recv(other, tensor) for other in range(self.parties)]
        for work in sends:
            work.wait()
        return received

    def finish(self) -> None:
        for work, _ in self._pending:
            work.wait()
        self._pending.clear()
