"""Running a secure computation: the per-party context and the two launchers (chapters 07–08).

``run_in_process(program, ...)`` runs every party and the dealer as threads of this process —
for notebooks and tests; every message is counted. ``run_distributed(program, ...)`` runs them
as separate OS processes over a gloo process group (TCP): it uses the *spawn* start method
(safe from Jupyter), an automatically chosen free port, one torch thread per process, and
timeouts; every party has an identity key pinned in a roster, and all traffic goes through
authenticated, encrypted channels (``course_lib.mpc.channel``); each party returns its result to the parent, which alone prints. A party that
dies or stalls turns into a :class:`PartyFailedError` or :class:`MPCTimeoutError` within the
timeout.

A *program* is an importable function ``program(ctx, **kwargs)`` run by every party and by
the dealer (SPMD). ``ctx.rank`` tells who is running it; ``ctx.is_dealer`` is true for the dealer.
"""
from __future__ import annotations

import datetime
import multiprocessing as mp
import struct
import pickle
import queue
import secrets
import socket
import threading
import time
import traceback
import warnings

import torch
import torch.distributed as dist
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import channel
from .channel import Identity, Roster
from .comm import DistributedComm, InProcessHub
from .authenticated import AuthenticatedTensor
from .authenticated_dealer import AuthenticatedDealer
from .authentication import PendingOpenings
from .dealer import Dealer
from .errors import (ChannelError, CheatingDetectedError, InsecureSeedWarning, MPCError, MPCTimeoutError, PartyFailedError, RankClaimedError,
                     RankTakenError, RendezvousTamperedError, UnknownPeerError, party_label)
from .prg import PRG, public_seed
from .tensor import SecretTensor


__all__ = ["Context", "new_identities", "run_in_process", "free_port", "run_party", "run_distributed"]


def _warn_public_seed() -> None:
    warnings.warn("insecure_seed: every PRG seed is derived from a public value, so anyone who knows it can "
                  "recover every party's inputs; use it only for reproducible tests and demonstrations",
                  InsecureSeedWarning, stacklevel=1)


class Context:
    """What one party knows: its rank, its communicator, its secure channels and PRG seeds.

    Setup runs a handshake with every other rank (``course_lib.mpc.channel``): with an
    ``identity`` and a pinned ``roster`` it authenticates every peer and every message is then
    sealed; with ``secure=False`` the key agreement is unauthenticated and messages travel in
    clear (a baseline for measuring the channels' cost, and for showing what the wire reveals).
    Either way the pair seeds (for input sharing) and the dealer seeds (for triples) are
    derived from the agreed keys — never sent. ``insecure_seed`` replaces them by values derived
    from a public seed: reproducible, and readable by anyone who knows the seed (it warns).
    ``record_view=True`` keeps every value this party sees opened, in ``ctx.view``.
    ``authenticated=True`` computes with SPDZ2k MACs (``course_lib.mpc.authentication``): every
    value any party opens is checked before any output is revealed. ``warn=False``
    leaves the public-seed warning to the launcher (which warns once, in the caller's thread).
    """

    def __init__(self, comm, *, identity: Identity | None = None, roster: Roster | None = None,
                 secure: bool = True, insecure_seed=None, record_view: bool = False, warn: bool = True,
                 authenticated: bool = False):
        self.comm, self.rank, self.parties = comm, comm.rank, comm.parties
        self.view = [] if record_view else None
        self.tamper = None    # set only by a deliberately malicious program (chapter 08's cheating party)
        if secure and (identity is None or roster is None):
            raise ValueError("secure channels need this party's identity and the roster of pinned fingerprints "
                             "(or secure=False)")
        seeds = self._handshake(identity or Identity.generate(), roster, secure)
        if insecure_seed is not None:
            if warn:
                _warn_public_seed()
            seeds = {other: public_seed(insecure_seed, _pair_label(self.rank, other, self.parties)) for other in seeds}
        if self.is_dealer:
            self.party_prgs = [PRG(seeds[i]) for i in range(self.parties)]
        else:
            self.pair_prgs = {other: PRG(seed) for other, seed in seeds.items() if other != self.parties}
            self.dealer_prg = PRG(seeds[self.parties])
        self.authenticated = bool(authenticated)
        if authenticated is True:
            dealer, self.tensor_type = AuthenticatedDealer, AuthenticatedTensor
        elif authenticated:           # another scheme: an object naming its dealer and tensor types (course_lib.toy.spdz64)
            dealer, self.tensor_type = authenticated.dealer, authenticated.tensor
        else:
            dealer, self.tensor_type = Dealer, SecretTensor
        self.pending = PendingOpenings()   # authenticated mode: what this party opened since the last MAC check
        self.dealer = dealer(self)

    def _handshake(self, identity: Identity, roster: Roster | None, secure: bool) -> dict[int, bytes]:
        """Agree a channel and a seed with every other rank; returns {rank: seed}."""
        comm, others = self.comm, [r for r in range(self.parties + 1) if r != self.rank]
        states = {other: channel.hello(self.rank, other, identity) for other in others}
        for other in others:
            comm.send_raw(other, _as_tensor(states[other].hello))
        hellos = {other: _as_bytes(comm.recv_raw(other, channel.HELLO_SIZE)) for other in others}
        trust = roster if secure else Roster({r: channel.fingerprint(
            _ed25519_from(hellos[r][:32])) for r in others})   # unauthenticated: accept whoever answers
        try:
            signatures = {other: channel.sign_transcript(states[other], hellos[other], trust, self.parties)
                          for other in others}
        except ChannelError:
            comm.finish()   # deliver the hellos already sent, so every honest peer reaches its own verdict
            raise
        for other in others:
            comm.send_raw(other, _as_tensor(signatures[other]))
        channels, seeds = {}, {}
        for other in others:
            signature = _as_bytes(comm.recv_raw(other, channel.SIGNATURE_SIZE))
            channels[other], seeds[other] = channel.finish_handshake(states[other], signature, self.parties)
        comm.channels = channels if secure else None
        return seeds

    @property
    def is_dealer(self) -> bool:
        return self.rank == self.parties

    @property
    def stats(self):
        return self.comm.stats


def _pair_label(rank: int, other: int, parties: int) -> str:
    low, high = sorted((rank, other))
    return f"dealer {low}" if high == parties else f"pair {low} {high}"


def _as_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _as_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.numpy().tobytes()


def _ed25519_from(raw: bytes) -> ed25519.Ed25519PublicKey:
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def new_identities(parties: int) -> tuple[dict[int, Identity], Roster]:
    """Fresh identities for every rank (the dealer too) and the roster that pins them."""
    identities = {rank: Identity.generate() for rank in range(parties + 1)}
    return identities, Roster.of(identities)


# ---------------------------------------------------------------- in one process
def run_in_process(program, parties: int = 2, *, insecure_seed=None, secure: bool = True, timeout: float = 60.0,
                   private_inputs=None, tap=None, record_view: bool = False, identities=None, roster=None,
                   authenticated: bool = False, **kwargs):
    """Run ``program(ctx, **kwargs)`` for every party (and the dealer) as threads.

    ``private_inputs[rank]`` adds keyword arguments for one party only (its private inputs). Every
    rank gets a fresh identity and the roster pinning all of them (or pass ``identities`` and
    ``roster``); ``tap(src, dst, data)`` sees (and may replace) every raw message on the wire.
    Returns ``(results, stats)``: the computing parties' return values and their ``Stats``.
    """
    hub = InProcessHub(parties, timeout, tap)
    world = parties + 1
    if identities is None:
        identities, fresh_roster = new_identities(parties)
        roster = roster or fresh_roster
    results, stats, errors = [None] * world, [None] * world, [None] * world
    torch_threads = torch.get_num_threads()
    if insecure_seed is not None:
        _warn_public_seed()

    def party(rank):
        try:
            ctx = Context(hub.comm(rank), identity=identities[rank], roster=roster, secure=secure,
                          insecure_seed=insecure_seed, record_view=record_view, warn=False,
                          authenticated=authenticated)
            results[rank] = program(ctx, **kwargs, **(private_inputs or {}).get(rank, {}))
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
        raise MPCError(f"{party_label(rank, parties)} failed: {type(error).__name__}: {error}\n{trace}") from error
    return results[:parties], stats[:parties]


# ---------------------------------------------------------------- separate processes
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _await_rendezvous(master: str, timeout: float, on_wait=None) -> None:
    """Wait, with plain connections, until rank 0's rendezvous at ``master`` accepts one (torch's own
    client would retry with C++ warnings and stack frames); ``on_wait(line)`` hears once, at the
    first refusal, why this party is waiting. Past ``timeout``: one line, naming the reason."""
    host, port = split_address(master)
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(3.0, deadline - time.monotonic()))):
                return
        except OSError as error:
            reason = error.strerror or type(error).__name__
            if time.monotonic() >= deadline:
                raise MPCError(f"could not reach rank 0's rendezvous at {master} within {timeout:.0f} s ({reason}): "
                               "start rank 0 first, and check --master and the firewall") from None
            if not told and on_wait is not None:
                on_wait(f"nothing answers at {master} yet ({reason}): waiting up to {timeout:.0f} s for rank 0's "
                        "rendezvous; if rank 0 has started, check --master")
                told = True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _process_group(rank: int, world: int, master: str, host: str, timeout: float, roster: Roster | None = None,
                   on_lobby=None, identity: Identity | None = None, on_wait=None):
    """A gloo group whose rendezvous and data sockets listen only on the given addresses.

    Rank 0 binds the rendezvous store to the master address itself (``torch.distributed.TCPStore``
    would listen on every interface); every rank binds its gloo device to ``host`` — an address,
    so no interface name (``lo`` on Linux, ``lo0`` on macOS) is ever needed. Before the group
    forms, every rank claims its rank in the store and waits in the lobby (:func:`_lobby`).
    Failures of torch's rendezvous become one-line MPCErrors.
    """
    master_host, port = split_address(master)
    wait = datetime.timedelta(seconds=timeout)
    listener = None
    if rank == 0:
        family = socket.AF_INET6 if ":" in master_host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((master_host, port))
        listener.listen(64)
        store = dist.TCPStore(master_host, port, world, True, wait, wait_for_workers=False,
                              master_listen_fd=listener.fileno())
    else:
        _await_rendezvous(master, timeout, on_wait)
        try:
            store = dist.TCPStore(master_host, port, world, False, wait)
        except RuntimeError:   # torch's DistNetworkError
            raise MPCError(f"could not reach rank 0's rendezvous at {master} within {timeout:.0f} s: start rank 0 "
                           "first, and check --master and the firewall") from None
    try:
        _lobby(store, rank, world, roster, timeout, on_lobby, identity)
        options = dist.ProcessGroupGloo._Options()
        options._devices = [dist.ProcessGroupGloo.create_device(hostname=host)]
        options._timeout = wait
        try:
            group = dist.ProcessGroupGloo(store, rank, world, options)
        except RuntimeError as error:   # torch's DistStoreError or DistNetworkError
            raise MPCError(f"the process group did not form within {timeout:.0f} s "
                           f"({str(error).splitlines()[0][:120]}): a rank that joined the lobby never connected; "
                           "rank 0 must start a new session") from None
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    return group, store, listener


SESSION_KEY, ABORT_KEY = "course/session", "course/abort"
SESSION_CONTEXT, ABORT_CONTEXT = b"course_lib mpc session v1", b"course_lib mpc abort v1"


def _signed_notice(identity: Identity, context: bytes, world: int, fields: list[str]) -> str:
    """``fields``, rank 0's public key and its signature over (context, world, fields), as one store value."""
    signature = identity.signing_key.sign(_notice_message(context, world, fields))
    return ":".join(["v1", *fields, identity.public_key.public_bytes_raw().hex(), signature.hex()])


def _notice_message(context: bytes, world: int, fields: list[str]) -> bytes:
    return context + struct.pack(">I", world) + b"\0".join(f.encode() for f in fields)


def _verified_fields(value: bytes, roster: Roster, context: bytes, world: int, count: int) -> list[str] | None:
    """The ``count`` fields of a store value signed by the key pinned for rank 0, or None if it is not."""
    try:
        version, *fields, key, signature = value.decode("ascii").split(":")
        public_key = _ed25519_from(bytes.fromhex(key))
        if version != "v1" or len(fields) != count or channel.fingerprint(public_key) != roster.fingerprints.get(0):
            return None
        public_key.verify(bytes.fromhex(signature), _notice_message(context, world, fields))
        return fields
    except (ValueError, InvalidSignature):
        return None


def _claimed_by_stranger(r: int, label) -> str:
    return (f"rank {r} ({label(r)}) was claimed by a process that is not on the roster: its claim is not signed by "
            f"the identity key pinned for rank {r}. Someone else can reach the rendezvous: let only the parties' "
            "machines reach its port, then start a new session (rank 0 on a fresh --master port)")


def _stranger_writes(what: str) -> RendezvousTamperedError:
    return RendezvousTamperedError(
        f"someone who is not on the roster is writing to the rendezvous store: {what} is not signed by the identity "
        "key pinned for rank 0 (its text is not shown). Let only the parties' machines reach the rendezvous port, "
        "then start a new session (rank 0 on a fresh --master port); such a writer can block a session (denial of "
        "service, outside the threat model), not join it")


def _lobby(store, rank: int, world: int, roster: Roster | None, timeout: float, on_lobby=None,
           identity: Identity | None = None) -> None:
    """Claim ``rank`` (refused at once if another process holds it), then wait until every rank has.

    ``on_lobby(joined, missing)`` is called whenever the lobby changes (the party command prints it
    at rank 0); a timeout names the ranks still missing. The store is not authenticated, so with an
    ``identity`` and a roster rank 0 signs the session token it draws, every claim is signed for
    that session, and every party checks them: a claim that is not signed by the key pinned for its
    rank raises :class:`RankClaimedError` at every party, naming the rank. Rank 0 then posts a
    signed abort notice (that rank, the session) and keeps the rendezvous open until the other
    ranks have read it (or its time is up); they build their message from its verified fields,
    never from text in the store. A session token or abort notice not signed by rank 0's pinned
    key (or, at rank 0, any change to them) raises :class:`RendezvousTamperedError`. A stranger can
    still block the session (denial of service), never join it: the handshake that follows checks
    the same pinned keys.
    """
    parties = world - 1
    roster = roster or Roster({})      # no names: 'party N' and 'the dealer'
    label = lambda r: roster.label(r, parties)  # noqa: E731
    signed = identity is not None and bool(roster.fingerprints)
    deadline = time.monotonic() + timeout
    session = token = ""

    def leave(reason: str, error: MPCError) -> MPCError:
        """Tell the others why (rank 0, signed) or that this rank has read it (the others); the error to raise."""
        if rank == 0:
            store.set(ABORT_KEY, _signed_notice(identity, ABORT_CONTEXT, world, [session, reason]))
            while time.monotonic() < deadline and not all(store.check([f"course/left/{r}"]) for r in range(1, world)):
                time.sleep(0.1)
        else:
            store.set(f"course/left/{rank}", "1")
        return error

    def claimed(r: int) -> MPCError:
        return leave(str(r), RankClaimedError(_claimed_by_stranger(r, label)))

    def check_notices() -> None:
        """Rank 0: its token is unchanged and no abort notice it did not write; the others: a verified notice."""
        if not signed:
            return
        if rank == 0:
            if store.get(SESSION_KEY) != token.encode():
                raise leave("tampered", _stranger_writes("the session token was overwritten: the new one"))
            if store.check([ABORT_KEY]):
                raise leave("tampered", _stranger_writes("an abort notice"))
        elif store.check([ABORT_KEY]):
            fields = _verified_fields(store.get(ABORT_KEY), roster, ABORT_CONTEXT, world, 2)
            if fields is None or fields[0] != session:
                raise leave("", _stranger_writes("the abort notice"))
            if fields[1] == "tampered":
                raise leave("", _stranger_writes("a session token or abort notice that rank 0 found in the store"))
            if not fields[1].isdigit() or int(fields[1]) >= world:
                raise leave("", _stranger_writes("the abort notice"))
            raise claimed(int(fields[1]))

    missing = [r for r in range(world) if r != rank]
    try:
        if signed and rank == 0:
            session = secrets.token_hex(16)
            token = _signed_notice(identity, SESSION_CONTEXT, world, [session])
            store.set(SESSION_KEY, token)
        elif signed:
            while not store.check([SESSION_KEY]):
                if time.monotonic() > deadline:
                    raise MPCTimeoutError(f"waited {timeout:.0f} s for rank 0's rendezvous to open a session")
                time.sleep(0.05)
            fields = _verified_fields(store.get(SESSION_KEY), roster, SESSION_CONTEXT, world, 1)
            if fields is None:
                raise _stranger_writes("the session token")
            (session,) = fields
        check_notices()
        claim = channel.rank_claim(identity, session, rank, world) if signed else secrets.token_hex(8)
        holder = store.compare_set(f"course/rank/{rank}", "", claim).decode()
        if holder != claim:
            if signed and not channel.rank_claim_is_valid(holder, roster, session, rank, world):
                raise claimed(rank)
            raise RankTakenError(f"{label(rank)} has already joined this computation from another process: check "
                                 f"--rank against the roster (if an earlier attempt of yours crashed, rank 0 must "
                                 f"start a new session)")
        shown = None
        while True:
            check_notices()
            joined = [r for r in missing if store.check([f"course/rank/{r}"])]
            for r in joined:
                if signed and not channel.rank_claim_is_valid(store.get(f"course/rank/{r}").decode(), roster,
                                                              session, r, world):
                    raise claimed(r)
            missing = [r for r in missing if r not in joined]
            if on_lobby is not None and missing != shown:
                on_lobby(world - len(missing), [label(r) for r in missing])
                shown = list(missing)
            if not missing:
                return
            if time.monotonic() > deadline:
                raise MPCTimeoutError(f"waited {timeout:.0f} s for every party to join; still missing: "
                                      + ", ".join(label(r) for r in missing))
            time.sleep(0.2)
    except MPCError:
        raise
    except RuntimeError:   # torch's DistNetworkError: rank 0, which holds the rendezvous, stopped
        raise MPCError(f"{party_label(0, parties)}'s rendezvous closed while we waited for "
                       + ", ".join(label(r) for r in missing) + ": rank 0 gave up or stopped") from None


def run_party(rank: int, parties: int, master: str, program, *, host: str | None = None, identity=None,
              roster=None, secure: bool = True, insecure_seed=None, timeout: float = 60.0, warn: bool = True,
              authenticated: bool = False, on_lobby=None, on_wait=None, **kwargs):
    """Join the computation as ``rank`` (one process): connect, run ``program``, return (result, stats).

    ``master`` is HOST:PORT of rank 0's rendezvous; ``host`` is the address this party listens on
    (default: the master's host, right for one machine). ``on_wait(line)`` hears why a rank waits
    for the rendezvous (once). Used by :func:`run_distributed` and by ``python -m
    course_lib.mpc.party`` on separate machines.
    """
    torch.set_num_threads(1)
    if secure and identity is not None and roster is not None:
        _check_own_identity(rank, parties, identity, roster)
    group, store, listener = _process_group(rank, parties + 1, master, host or split_address(master)[0], timeout,
                                            roster, on_lobby, identity, on_wait)
    try:
        comm = DistributedComm(rank, parties, group)
        ctx = Context(comm, identity=identity, roster=roster, secure=secure, insecure_seed=insecure_seed, warn=warn,
                      authenticated=authenticated)
        result = program(ctx, **kwargs)
        comm.finish()
        comm.barrier()
        return result, ctx.stats
    finally:
        del group
        if listener is not None:
            listener.close()


def _check_own_identity(rank: int, parties: int, identity: Identity, roster: Roster) -> None:
    """Refuse to join, before connecting, as a rank whose pinned key is not ours (and say which rank is)."""
    mine = identity.fingerprint
    if roster.fingerprints.get(rank) == mine:
        return
    pinned_for = roster.rank_of(mine)
    where = (f"the roster pins it for {roster.label(pinned_for, parties)}: use --rank {pinned_for}"
             if pinned_for is not None else "it is not in the roster at all: send your fingerprint to whoever "
             "keeps the roster")
    raise UnknownPeerError(f"your identity key {mine[:16]}… is not the one pinned for {roster.label(rank, parties)}; "
                           + where)


def _process_main(rank, parties, master, program, options, kwargs, results):
    try:
        identity = options.pop("identity_bytes")
        result, stats = run_party(rank, parties, master, program,
                                  identity=Identity.from_private_bytes(identity) if identity else None,
                                  **options, **kwargs)
        # plain pickle copies tensors by value: torch's shared-memory hand-off would need this
        # process to stay alive until the parent has read the result
        results.put((rank, "ok", pickle.dumps(result), stats))
    except BaseException as error:  # noqa: BLE001 - everything goes back to the parent
        results.put((rank, "error", f"{type(error).__name__}: {error}", traceback.format_exc()))


def _rank_of(process) -> int:
    return int(process.name.rsplit("-", 1)[1])


def _who(process, parties: int) -> str:
    return party_label(_rank_of(process), parties)


def _dead(processes, collected):
    """Processes that exited abnormally without reporting a result."""
    return [p for p in processes if p.exitcode not in (None, 0) and _rank_of(p) not in collected]


def run_distributed(program, parties: int = 2, *, insecure_seed=None, secure: bool = True, timeout: float = 60.0,
                    private_inputs=None, identities=None, roster=None, authenticated: bool = False, **kwargs):
    """Run ``program`` with one OS process per party plus one for the dealer, over gloo on localhost.

    Same arguments and return value as :func:`run_in_process`. ``program`` must be importable
    (defined in a module, not in a notebook): the children are started with *spawn*. Each child
    receives only its own identity key, the roster, and its own private inputs.
    """
    context = mp.get_context("spawn")
    master = f"127.0.0.1:{free_port()}"
    results = context.Queue()
    world = parties + 1
    if identities is None:
        identities, fresh_roster = new_identities(parties)
        roster = roster or fresh_roster
    if insecure_seed is not None:
        _warn_public_seed()

    def options(rank):
        identity = identities.get(rank)
        return {"identity_bytes": identity.private_bytes() if identity else None, "roster": roster, "secure": secure,
                "insecure_seed": insecure_seed, "timeout": timeout, "warn": False, "authenticated": authenticated}

    processes = [context.Process(target=_process_main, name=f"mpc-party-{r}", daemon=True,
                                 args=(r, parties, master, program, options(r),
                                       {**kwargs, **(private_inputs or {}).get(r, {})}, results))
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
                who = party_label(rank, parties)
                cause = f"{_who(dead[0], parties)} died (exit code {dead[0].exitcode}); then " if dead else ""
                if payload[0].startswith("CheatingDetectedError: ") and not dead:   # chapter 08: the same error here
                    raise CheatingDetectedError(f"{who} stopped: {payload[0].split(': ', 1)[1]}")
                raise PartyFailedError(f"{cause}{who} failed: {payload[0]}\n{payload[1]}")
    finally:
        for p in processes:
            p.join(timeout=0 if len(collected) < world else 10)
            if p.is_alive():
                p.terminate()
                p.join(5)
    return [pickle.loads(collected[r][1][0]) for r in range(parties)], [collected[r][1][1] for r in range(parties)]
