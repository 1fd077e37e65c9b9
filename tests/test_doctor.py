"""The preflight command: PASS/WARN/FAIL lines, each failure with a fix."""
import os
import socket
import threading
import time

import pytest

from course_lib.mpc.runtime import free_port
from course_tools import doctor, reach


@pytest.fixture
def reach_service():
    """The instructor's ``--serve-reach`` on a free loopback port, in a thread; what it logged."""
    stop, ready, lines = threading.Event(), threading.Event(), []
    port = free_port()
    server = threading.Thread(target=reach.serve, args=(port, "127.0.0.1"),
                              kwargs=dict(seconds=120, stop=stop, ready=ready, log=lines.append), daemon=True)
    server.start()
    assert ready.wait(10)
    yield f"127.0.0.1:{port}", lines
    stop.set()
    server.join(5)


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
