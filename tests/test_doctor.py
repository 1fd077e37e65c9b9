"""The preflight command: PASS/WARN/FAIL lines, each failure with a fix."""
import os
import socket

from course_tools import doctor


def test_a_healthy_machine_passes_and_the_instructors_port_is_checked(capsys):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        host, port = server.getsockname()
        assert doctor.main(["--no-mpc", "--reach", f"{host}:{port}"]) == 0
    out = capsys.readouterr().out
    for check in ("python", "packages", "imports", "widgets", "aes", "network"):
        assert f"  {check}: " in out
    assert "FAIL" not in out and "6 of 6 checks passed" in out


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
