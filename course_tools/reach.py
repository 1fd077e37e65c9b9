"""Can the others reach this laptop? The doctor's reach service and its check, both directions (chapter 08's lab).

In the room-wide lab every party connects to every other one, so a laptop whose firewall drops
*incoming* connections breaks the lab although it reaches the instructor. The instructor runs
``python -m course_tools.doctor --serve-reach PORT``; each learner's ``--reach HOST:PORT`` then:

1. connects to it (outgoing) and reads its banner;
2. listens on a fresh port of the address it used, and sends that port and a random nonce;
3. the service connects back to the learner's address (the one it sees the connection come from,
   never another) at that port, once, within ``CALLBACK_TIMEOUT`` seconds, and sends the nonce;
4. the learner checks that the nonce arrived *from the service's address* (a connection from any
   other address is read and ignored, so another laptop cannot fake or spoil the result), and
   the service says what it saw.

Limits. The service reads at most ``MAX_LINE`` bytes from anyone, within ``LINE_BUDGET`` seconds
in all (not per read); it connects back at most once per connection, only to that connection's
source; it serves at most ``PER_SOURCE`` connections from one address at a time and
``PER_MINUTE`` checks from one address a minute (the rest get ``BUSY`` and are closed), at most
``MAX_CONNECTIONS`` at a time, and for a bounded time; its log has at most one line per address
per ``LOG_EVERY`` seconds, unless the result changed. A laptop that holds many addresses at once
can still keep others waiting (``MAX_CONNECTIONS`` / ``PER_SOURCE`` addresses are needed): that
is a denial of service the room sees, never a wrong verdict. A ``HOST:PORT`` that sends no banner
(for example rank 0's rendezvous) gets no bytes from the check: only the outgoing direction is
checked then. A service that breaks off or stops mid-check, or that runs short of open files,
gives a "try again" warning, never a traceback or a firewall verdict; what a service says is
shown only as the service's words. The connect-back leaves from the address the learner
reached, so an instructor's machine with two addresses is still recognised.
"""
from __future__ import annotations

import errno
import secrets
import socket
import threading
import time
from dataclasses import dataclass

try:
    import resource                         # POSIX only
except ImportError:
    resource = None

__all__ = ["BANNER", "BROKE_OFF", "BUSY", "CALLBACK_TIMEOUT", "LINE_BUDGET", "LOG_EVERY", "MAX_CONNECTIONS",
           "MAX_LINE", "PER_MINUTE", "PER_SOURCE", "Reach", "parse_address", "check", "serve"]

BANNER = b"course-doctor-reach 1\n"
BUSY = b"course-doctor-reach busy\n"
BROKE_OFF = "the check broke off"        # how ``Reach.incoming`` starts when the service stopped mid-check
SERVICE_SAID = "the service said"        # how it starts when the reason is the service's own words
CALLBACK_TIMEOUT = 2.0
LINE_BUDGET = 1.0
MAX_LINE = 128
PER_SOURCE = 4
PER_MINUTE = 12
MAX_CONNECTIONS = 256
LOG_EVERY = 10.0
MAX_CALLBACKS = 8                         # connections the learner's listener reads before it gives up
_HEX = frozenset("0123456789abcdef")
# connect-back errors that say something about the learner's side (else: this machine's own trouble)
_THE_PEERS_FAULT = {errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET,
                    errno.ECONNABORTED, errno.EHOSTDOWN if hasattr(errno, "EHOSTDOWN") else errno.EHOSTUNREACH}


@dataclass(frozen=True)
class Reach:
    outgoing: str | None          # None: connected; else why not
    incoming: str | None          # None: the service connected back; "unchecked"; "busy"; else why not
    address: str                  # this laptop's address and port as offered to the service


def is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and 0 < int(text) < 65536


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) with a port from 1 to 65535 in ASCII digits, else ValueError."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not is_port(port):
        raise ValueError(f"{address!r} is not HOST:PORT with a port from 1 to 65535")
    return host, int(port)


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    """Up to a newline or ``MAX_LINE`` bytes, all before ``deadline`` (one budget, not one per read)."""
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_LINE:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        sock.settimeout(left)
        chunk = sock.recv(MAX_LINE - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check(address: str, timeout: float = 3.0) -> Reach:
    """Both directions between this machine and the reach service at ``address`` (HOST:PORT)."""
    try:
        host, port = parse_address(address)
        conn = socket.create_connection((host, port), timeout=timeout)
    except (OSError, ValueError, OverflowError) as error:
        return Reach(str(error) or type(error).__name__, "unchecked", "")
    with conn:
        mine, service = conn.getsockname()[0], conn.getpeername()[0]
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
        done, stop_listening = threading.Event(), threading.Event()
        try:
            with socket.socket(family, socket.SOCK_STREAM) as listener:
                listener.bind((mine, 0))
                listener.listen(64)
                offered = f"{mine}:{listener.getsockname()[1]}"
                until = time.monotonic() + CALLBACK_TIMEOUT + 2 * timeout

                def accept():
                    """Read connections from the service's address until one brings the nonce, or time is
                    up; a connection from any other address is closed at once, unread and uncounted."""
                    taken = 0
                    while taken < MAX_CALLBACKS and not stop_listening.is_set() and time.monotonic() < until:
                        try:
                            listener.settimeout(0.1)
                            back, source = listener.accept()
                        except socket.timeout:
                            continue
                        except OSError:
                            return
                        with back:
                            if source[0] != service:
                                continue
                            taken += 1
                            try:
                                line = _read_line(back, min(until, time.monotonic() + timeout))
                            except OSError:
                                continue
                        if line.strip().decode(errors="replace") == nonce:
                            got.append(source[0])
                            done.set()
                            return
                waiter = threading.Thread(target=accept, daemon=True)
                waiter.start()
                try:
                    conn.sendall(f"{listener.getsockname()[1]} {nonce}\n".encode())
                    verdict = _read_line(conn, time.monotonic() + LINE_BUDGET + CALLBACK_TIMEOUT + timeout
                                         ).decode(errors="replace")
                    done.wait(max(0.0, min(timeout, until - time.monotonic())))
                finally:
                    stop_listening.set()
                    waiter.join(timeout + 0.5)
        except OSError as error:        # the service broke off (a reset), or this laptop cannot listen at all
            return Reach(None, f"{BROKE_OFF}: {error.strerror or type(error).__name__}", offered)
        if got:
            return Reach(None, None, offered)
        verdict = "".join(c for c in verdict.strip() if c.isascii() and c.isprintable())[:100]
        if verdict == "ok":
            return Reach(None, "the nonce did not arrive from the service's address", offered)
        if verdict == "busy":
            return Reach(None, "busy", offered)
        reason = verdict[8:].strip() if verdict.startswith("failed: ") else ""
        if not reason or verdict == "stopping":      # no verdict: the service stopped, or said nothing usable
            return Reach(None, f"{BROKE_OFF}: the service gave no verdict", offered)
        return Reach(None, f"{SERVICE_SAID}: {reason}", offered)


class _Log:
    """At most one line per address per ``LOG_EVERY`` seconds, unless its result changed; how many were held back."""

    def __init__(self, log, limit: int = 4096):
        self.log, self.lock, self.last, self.limit = log, threading.Lock(), {}, limit

    def __call__(self, peer: str, line: str) -> None:
        now = time.monotonic()
        with self.lock:                         # one line at a time: lines from two checks never run together
            when, said, held = self.last.get(peer, (None, None, 0))
            if said == line and when is not None and now - when < LOG_EVERY:
                self.last[peer] = (when, said, held + 1)
                return
            if len(self.last) >= self.limit:    # forget addresses not heard of for LOG_EVERY: the map stays small
                self.last = {p: entry for p, entry in self.last.items() if now - entry[0] < LOG_EVERY}
            self.last[peer] = (now, line, 0)
            self.log(line + (f" ({held} more check(s) from {peer} with this result not shown)" if held else ""))


def _answer(conn: socket.socket, peer: str, log: _Log, stop: threading.Event, deadline: float) -> None:
    with conn:
        try:
            conn.settimeout(LINE_BUDGET)
            conn.sendall(BANNER)
            words = _read_line(conn, time.monotonic() + LINE_BUDGET).decode(errors="replace").split()
            port, nonce = words[0], words[1]
            if len(words) != 2 or not is_port(port) or len(nonce) != 32 or not set(nonce) <= _HEX:
                raise ValueError
        except (OSError, ValueError, IndexError):
            return
        if stop.is_set() or time.monotonic() >= deadline:
            _send_quietly(conn, b"stopping\n")
            return
        try:                # from the address the learner reached, so that its check recognises the service
            with socket.create_connection((peer, int(port)), timeout=CALLBACK_TIMEOUT,
                                          source_address=(conn.getsockname()[0], 0)) as back:
                back.sendall(f"{nonce}\n".encode())
            verdict = "ok"
        except OSError as error:
            if not isinstance(error, TimeoutError) and error.errno not in _THE_PEERS_FAULT:
                _send_quietly(conn, b"busy\n")      # this machine's own trouble (out of files, of memory)
                return
            verdict = f"failed: {error.strerror or type(error).__name__}"
        log(peer, f"{peer}: incoming connections {'reach it' if verdict == 'ok' else 'do not reach it (' + verdict[8:] + ')'}")
        try:
            conn.sendall(f"{verdict}\n".encode())
        except OSError:
            pass


def _send_quietly(conn: socket.socket, line: bytes) -> None:
    try:
        conn.sendall(line)
    except OSError:
        pass


def _turn_away(conn: socket.socket) -> None:
    with conn:
        try:
            conn.settimeout(0.5)
            conn.sendall(BUSY)
        except OSError:
            pass


def _connections_the_file_limit_allows() -> int:
    """Each check holds two sockets (the learner's, the connect-back): keep within the open-file limit."""
    if resource is None:                    # Windows has no such per-process limit to mind
        return MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(1, (soft - 64) // 2)


def serve(port: int, host: str = "", *, seconds: float = 3600.0, stop: threading.Event | None = None,
          ready: threading.Event | None = None, log=print, max_connections: int = MAX_CONNECTIONS) -> None:
    """Answer reach checks on ``host:port`` for ``seconds`` (or until ``stop`` is set): at most
    ``max_connections`` at a time, ``PER_SOURCE`` at a time and ``PER_MINUTE`` a minute from one
    address. Returns once every connection it accepted is finished."""
    if not (0 < seconds < float("inf")):                 # also refuses nan
        raise ValueError(f"the service serves for a finite, positive time, not {seconds!r} seconds")
    stop = stop or threading.Event()
    deadline = time.monotonic() + seconds
    max_connections = min(max_connections, _connections_the_file_limit_allows())
    lines = _Log(log)
    active: list[tuple[str, threading.Thread]] = []
    recent: dict[str, list[float]] = {}
    with socket.create_server((host, port), reuse_port=False) as server:
        server.settimeout(0.2)
        if ready is not None:
            ready.set()
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, peer = server.accept()
            except OSError:                      # a timeout, or a learner that reset before accept: keep serving
                time.sleep(0.05)
                continue
            now, source = time.monotonic(), peer[0]
            active = [(s, t) for s, t in active if t.is_alive()]
            if len(recent) > 4096:                              # forget quiet addresses; the map stays small
                recent = {s: w for s, w in recent.items() if w and now - w[-1] < 60}
            window = [t for t in recent.get(source, []) if now - t < 60]
            if (len(active) >= max_connections or sum(s == source for s, _ in active) >= PER_SOURCE
                    or len(window) >= PER_MINUTE):
                recent[source] = window
                _turn_away(conn)
                continue
            recent[source] = window + [now]
            worker = threading.Thread(target=_answer, args=(conn, source, lines, stop, deadline), daemon=True)
            worker.start()
            active.append((source, worker))
    for _, worker in active:                                    # each ends within its own budgets
        worker.join(LINE_BUDGET + CALLBACK_TIMEOUT + 1)
