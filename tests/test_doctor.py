"""The preflight command: PASS/WARN/FAIL lines, each failure with a fix."""
import socket

from course_tools import doctor


def test_a_healthy_machine_passes_and_the_instructors_port_is_checked(capsys):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        host, port = server.getsockname()
        assert doctor.main(["--no-mpc", "--reach", f"{host}:{port}"]) == 0
    out = capsys.readouterr().out
    for check in ("python", "packages", "widgets", "aes", "network"):
        assert f"  {check}: " in out
    assert "FAIL" not in out and "5 of 5 checks passed" in out


def test_an_unreachable_instructor_is_a_failure_with_a_fix(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]          # nobody listens once this socket is closed
    assert doctor.main(["--no-mpc", "--reach", f"127.0.0.1:{closed}"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  network: cannot reach" in out and "fix: " in out


def test_a_package_that_differs_from_its_pin_is_a_failure_naming_both_versions(monkeypatch):
    from course_lib import environment
    real = environment.environment_report

    def drifted():
        report = real()
        report.mismatches = {"torch": ("2.5.0", "2.13.0")}
        return report

    monkeypatch.setattr(doctor, "environment_report", drifted)
    finding = doctor.check_packages()
    assert finding.status == "FAIL" and "torch 2.5.0 (pinned 2.13.0)" in finding.detail
    assert "pip install -r requirements.txt" in finding.fix


def test_aes_acceleration_is_unknown_not_absent_without_proc_cpuinfo(monkeypatch):
    monkeypatch.setattr(doctor, "cpu_flags", lambda: None)
    assert "AES instructions: unknown" in doctor.check_aes().detail


def test_the_local_multi_process_check_runs_a_secure_sum():
    finding = doctor.check_gloo()
    assert finding.status == "PASS", str(finding)
