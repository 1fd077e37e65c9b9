"""Running a secure computation: the per-party context and the two launchers (chapters 07–08).

``run_in_process(program, ...)`` runs every party and the dealer as threads of this process —
for notebooks and tests; every message is counted. ``run_distributed(program, ...)`` runs them
as separate OS processes over ``torch.distributed`` (gloo on TCP): it uses the *spawn* start
method (safe from Jupyter), an automatically chosen free port, one torch thread per process,
and timeouts; each party returns its result to the parent, which alone prints. A party that
dies or stalls turns into a :class:`PartyFailedError` or :class:`MPCTimeoutError` within the
timeout.

A *program* is an importable function ``program(ctx, **kwargs)`` run by every party and by
the dealer (SPMD). ``ctx.rank`` tells who is running it; ``ctx.is_dealer`` is true for the dealer.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import queue
import socket
import threading
import time
import traceback

import torch

from .comm import DistributedComm, InProcessHub
from .dealer import Dealer
from .errors import MPCError, MPCTimeoutError, PartyFailedError
from .prg import PRG


def _derive(seed: bytes, label: str) -> bytes:
    return hashlib.sha256(seed + label.encode()).digest()


def _seed_bytes(seed) -> bytes | None:
    if seed is None:
        return None
    if isinstance(seed, int):
        return hashlib.sha256(b"course_lib mpc seed" + seed.to_bytes(16, "big", signed=True)).digest()
    return bytes(seed)


class Context:
    """What one party knows: its rank, its communicator, and its PRG seeds.

    Seeds: each pair of parties shares one (for input sharing without messages), and each party
    shares one with the dealer (for triples). With ``seed`` given they are derived from it —
    reproducible runs, for teaching and tests; with ``seed=None`` they are drawn from
    ``os.urandom`` by one side and sent to the other during setup.
    """

    def __init__(self, comm, seed=None):
        self.comm, self.rank, self.parties = comm, comm.rank, comm.parties
        seed = _seed_bytes(seed)
        if self.is_dealer:
            keys = [self._agree(i, None, seed, f"dealer {i}") for i in range(self.parties)]
            self.party_prgs = [PRG(k) for k in keys]
        else:
            self.pair_prgs = {}
            for other in range(self.parties):
                if other != self.rank:
                    low, high = sorted((self.rank, other))
                    self.pair_prgs[other] = PRG(self._agree(other, self.rank == low, seed, f"pair {low} {high}"))
            self.dealer_prg = PRG(self._agree(self.parties, True, seed, f"dealer {self.rank}"))
        self.dealer = Dealer(self)

    @property
    def is_dealer(self) -> bool:
        return self.rank == self.parties

    @property
    def stats(self):
        return self.comm.stats

    def _agree(self, other: int, i_choose: bool | None, seed, label: str) -> bytes:
        """A 32-byte key shared with ``other``: derived from ``seed``, or drawn by one side and sent."""
        if seed is not None:
            return _derive(seed, label)
        if i_choose is None:  # the dealer receives the seeds the parties chose
            i_choose = False
        if i_choose:
            key = os.urandom(32)
            self.comm.send(other, torch.frombuffer(bytearray(key), dtype=torch.uint8).clone())
            return key
        return bytes(self.comm.recv(other, torch.empty(32, dtype=torch.uint8)).numpy().tobytes())


# ---------------------------------------------------------------- in one process
def run_in_process(program, parties: int = 2, seed=None, timeout: float = 60.0, rank_kwargs=None, **kwargs):
    """Run ``program(ctx, **kwargs)`` for every party (and the dealer) as threads.

    ``rank_kwargs[rank]`` adds keyword arguments for one party only (its private inputs).
    Returns ``(results, stats)``: the computing parties' return values and their ``Stats``.
    """
    hub = InProcessHub(parties, timeout)
    world = parties + 1
    results, stats, errors = [None] * world, [None] * world, [None] * world
    torch_threads = torch.get_num_threads()

    def party(rank):
        try:
            ctx = Context(hub.comm(rank), seed)
            results[rank] = program(ctx, **kwargs, **(rank_kwargs or {}).get(rank, {}))
            stats[rank] = ctx.stats
        except BaseException as error:  # reported below, with the party's traceback
            errors[rank] = (error, traceback.format_exc())
            hub.failed.set()

    threads = [threading.Thread(target=party, args=(r,), name=f"mpc-party-{r}", daemon=True) for r in range(world)]
    torch.set_num_threads(1)  # the parties already run in parallel
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
    finally:
        torch.set_num_threads(torch_threads)
    if any(t.is_alive() for t in threads):
        hub.failed.set()
        raise MPCTimeoutError(f"the computation did not finish within {timeout:.0f} s")
    failures = [(rank, e) for rank, e in enumerate(errors) if e]
    if failures:
        # report the party that failed first, not those it then stopped ("another party failed")
        rank, (error, trace) = next(((r, e) for r, e in failures if "another party failed" not in str(e[0])),
                                    failures[0])
        if isinstance(error, MPCError):
            raise error
        who = "the dealer" if rank == parties else f"party {rank}"
        raise MPCError(f"{who} failed: {type(error).__name__}: {error}\n{trace}") from error
    return results[:parties], stats[:parties]


# ---------------------------------------------------------------- separate processes
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run_party(rank: int, parties: int, master: str, program, seed=None, timeout: float = 60.0, **kwargs):
    """Join the computation as ``rank`` (one process): init gloo, run ``program``, return (result, stats).

    Used by :func:`run_distributed` and by ``python -m course_lib.mpc.party`` on separate machines.
    """
    import datetime
    import torch.distributed as dist
    host, port = master.rsplit(":", 1)
    if host in ("127.0.0.1", "localhost"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://{host}:{port}", rank=rank, world_size=parties + 1,
                            timeout=datetime.timedelta(seconds=timeout))
    try:
        comm = DistributedComm(rank, parties)
        ctx = Context(comm, seed)
        result = program(ctx, **kwargs)
        comm.finish()
        dist.barrier()
        return result, ctx.stats
    finally:
        dist.destroy_process_group()


def _process_main(rank, parties, master, program, seed, timeout, kwargs, results):
    try:
        result, stats = run_party(rank, parties, master, program, seed, timeout, **kwargs)
        # plain pickle copies tensors by value: torch's shared-memory hand-off would need this
        # process to stay alive until the parent has read the result
        results.put((rank, "ok", pickle.dumps(result), stats))
    except BaseException as error:  # noqa: BLE001 - everything goes back to the parent
        results.put((rank, "error", f"{type(error).__name__}: {error}", traceback.format_exc()))


def _rank_of(process) -> int:
    return int(process.name.rsplit("-", 1)[1])


def _who(process, parties: int) -> str:
    rank = _rank_of(process)
    return "the dealer" if rank == parties else f"party {rank}"


def _dead(processes, collected):
    """Processes that exited abnormally without reporting a result."""
    return [p for p in processes if p.exitcode not in (None, 0) and _rank_of(p) not in collected]


def run_distributed(program, parties: int = 2, seed=None, timeout: float = 60.0, rank_kwargs=None, **kwargs):
    """Run ``program`` with one OS process per party plus one for the dealer, over gloo on localhost.

    Same arguments and return value as :func:`run_in_process`. ``program`` must be importable
    (defined in a module, not in a notebook): the children are started with *spawn*.
    """
    import multiprocessing as mp
    context = mp.get_context("spawn")
    master = f"127.0.0.1:{free_port()}"
    results = context.Queue()
    world = parties + 1
    processes = [context.Process(target=_process_main, name=f"mpc-party-{r}", daemon=True,
                                 args=(r, parties, master, program, seed, timeout,
                                       {**kwargs, **(rank_kwargs or {}).get(r, {})}, results))
                 for r in range(world)]
    for p in processes:
        p.start()
    collected, deadline = {}, time.monotonic() + timeout + 30  # + start-up of fresh interpreters
    try:
        while len(collected) < world:
            try:
                rank, status, *payload = results.get(timeout=0.2)
            except queue.Empty:
                dead = _dead(processes, collected)
                if dead:
                    raise PartyFailedError(f"{_who(dead[0], parties)} died (exit code {dead[0].exitcode}) "
                                           "before finishing") from None
                if time.monotonic() > deadline:
                    raise MPCTimeoutError(f"the computation did not finish within {timeout:.0f} s") from None
                continue
            collected[rank] = (status, payload)
            if status == "error":
                time.sleep(0.5)  # a peer's death often shows up first as "connection closed" elsewhere
                dead = _dead(processes, collected)
                who = "the dealer" if rank == parties else f"party {rank}"
                cause = f"{_who(dead[0], parties)} died (exit code {dead[0].exitcode}); then " if dead else ""
                raise PartyFailedError(f"{cause}{who} failed: {payload[0]}\n{payload[1]}")
    finally:
        for p in processes:
            p.join(timeout=0 if len(collected) < world else 10)
            if p.is_alive():
                p.terminate()
                p.join(5)
    return [pickle.loads(collected[r][1][0]) for r in range(parties)], [collected[r][1][1] for r in range(parties)]
