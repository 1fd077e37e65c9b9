"""Can the others reach this laptop? The doctor's reach service and its check, both directions (chapter 08's lab).

In the room-wide lab every party connects to every other one, so a laptop whose firewall drops
*incoming* connections breaks the lab although it reaches the instructor. The instructor runs
``python -m course_tools.doctor --serve-reach PORT``; each learner's ``--reach HOST:PORT`` then:

1. connects to it (outgoing) and reads its banner;
2. listens on a fresh port of the address it used, and sends that port and a random nonce;
3. the service connects back to the learner's address (the one it sees the connection come from,
   never another) at that port, once, within ``CALLBACK_TIMEOUT`` seconds, and sends the nonce;
4. the learner checks that the nonce arrived, and the service says what it saw.

The service reads at most ``MAX_LINE`` bytes from anyone, connects back at most once per
connection, serves at most ``PER_SOURCE`` connections from one address at a time (the rest get
``BUSY`` and are closed, so one laptop holding connections open cannot shut the others out), and
serves for a bounded time. A ``HOST:PORT`` that sends no banner (for example rank 0's rendezvous)
gets no bytes from the check: only the outgoing direction is checked then. A service that breaks
off mid-check gives a reason, never a traceback.
"""
from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass

__all__ = ["BANNER", "BROKE_OFF", "BUSY", "CALLBACK_TIMEOUT", "MAX_LINE", "PER_SOURCE", "Reach", "check", "serve"]

BANNER = b"course-doctor-reach 1\n"
BUSY = b"course-doctor-reach busy\n"
BROKE_OFF = "the check broke off"        # how ``Reach.incoming`` starts when the service stopped mid-check
CALLBACK_TIMEOUT = 3.0
MAX_LINE = 128
PER_SOURCE = 4
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Reach:
    outgoing: str | None          # None: connected; else why not
    incoming: str | None          # None: the service connected back; "unchecked"; "busy"; else why not
    address: str                  # this laptop's address and port as offered to the service


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_LINE:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(MAX_LINE - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check(address: str, timeout: float = 3.0) -> Reach:
    """Both directions between this machine and the reach service at ``address`` (HOST:PORT)."""
    host, _, port = address.rpartition(":")
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except (OSError, ValueError) as error:
        return Reach(str(error) or type(error).__name__, "unchecked", "")
    with conn:
        mine = conn.getsockname()[0]
        try:
            banner = _read_line(conn, time.monotonic() + timeout)
        except OSError:
            banner = b""
        if banner == BUSY:
            return Reach(None, "busy", mine)
        if banner != BANNER:
            return Reach(None, "unchecked", mine)
        nonce = secrets.token_hex(16)
        family = socket.AF_INET6 if ":" in mine else socket.AF_INET
        offered, got = mine, []
        try:
            with socket.socket(family, socket.SOCK_STREAM) as listener:
                listener.bind((mine, 0))
                listener.listen(1)
                listener.settimeout(CALLBACK_TIMEOUT + timeout)
                offered = f"{mine}:{listener.getsockname()[1]}"

                def accept():
                    try:
                        back, _ = listener.accept()
                        with back:
                            got.append(_read_line(back, time.monotonic() + timeout))
                    except OSError:
                        pass
                waiter = threading.Thread(target=accept, daemon=True)
                waiter.start()
                try:
                    conn.sendall(f"{listener.getsockname()[1]} {nonce}\n".encode())
                    verdict = _read_line(conn, time.monotonic() + CALLBACK_TIMEOUT + 2 * timeout).decode(errors="replace")
                finally:
                    waiter.join(CALLBACK_TIMEOUT + timeout)
        except OSError as error:        # the service broke off (a reset), or this laptop cannot listen at all
            return Reach(None, f"{BROKE_OFF}: {error.strerror or type(error).__name__}", offered)
        if got and got[0].strip().decode(errors="replace") == nonce:
            return Reach(None, None, offered)
        verdict = "".join(c for c in verdict.strip() if c.isascii() and c.isprintable())[:100]
        if verdict == "ok":
            return Reach(None, "the nonce did not arrive", offered)
        reason = verdict[8:] if verdict.startswith("failed: ") and verdict[8:] != "unchecked" else ""
        return Reach(None, reason or "no answer from the service", offered)


def _answer(conn: socket.socket, peer: str, log) -> None:
    with conn:
        try:
            conn.settimeout(CALLBACK_TIMEOUT)
            conn.sendall(BANNER)
            words = _read_line(conn, time.monotonic() + CALLBACK_TIMEOUT).decode(errors="replace").split()
            port, nonce = int(words[0]), words[1]
            if not (0 < port < 65536 and len(nonce) == 32 and set(nonce) <= _HEX):
                raise ValueError
        except (OSError, ValueError, IndexError):
            return
        try:
            with socket.create_connection((peer, port), timeout=CALLBACK_TIMEOUT) as back:
                back.sendall(f"{nonce}\n".encode())
            verdict = "ok"
        except OSError as error:
            verdict = f"failed: {error.strerror or error}"
        log(f"{peer}: incoming connections {'reach it' if verdict == 'ok' else 'do not reach it (' + verdict[8:] + ')'}")
        try:
            conn.sendall(f"{verdict}\n".encode())
        except OSError:
            pass


def _turn_away(conn: socket.socket) -> None:
    with conn:
        try:
            conn.settimeout(0.5)
            conn.sendall(BUSY)
        except OSError:
            pass


def serve(port: int, host: str = "", *, seconds: float = 3600.0, stop: threading.Event | None = None,
          ready: threading.Event | None = None, log=print, max_connections: int = 64) -> None:
    """Answer reach checks on ``host:port`` for ``seconds`` (or until ``stop`` is set): at most
    ``max_connections`` at a time, and at most ``PER_SOURCE`` from one address."""
    if not (0 < seconds < float("inf")):                 # also refuses nan
        raise ValueError(f"the service serves for a finite, positive time, not {seconds!r} seconds")
    stop = stop or threading.Event()
    deadline = time.monotonic() + seconds
    with socket.create_server((host, port), reuse_port=False) as server:
        server.settimeout(0.2)
        if ready is not None:
            ready.set()
        active: list[tuple[str, threading.Thread]] = []
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, peer = server.accept()
            except OSError:                      # a timeout, or a learner that reset before accept: keep serving
                time.sleep(0.05)
                continue
            active = [(source, t) for source, t in active if t.is_alive()]
            if len(active) >= max_connections or sum(source == peer[0] for source, _ in active) >= PER_SOURCE:
                _turn_away(conn)
                continue
            worker = threading.Thread(target=_answer, args=(conn, peer[0], log), daemon=True)
            worker.start()
            active.append((peer[0], worker))
