"""Preflight check before a workshop: ``python -m course_tools.doctor [--reach HOST:PORT] [--lang zh]``.

Prints one line per check — PASS, WARN (works, but read the note) or FAIL — each failure with
the command or setting that fixes it, and exits with status 1 if anything failed. Instructors
ask every learner to run it before the day. ``--lang zh`` (or ``COURSE_LANG=zh``) prints the
lines in Chinese (``locale/zh/messages.json``). The instructor runs ``--serve-reach PORT``;
``--reach`` against it checks both directions (``course_tools.reach``), so that a laptop whose
firewall drops incoming connections fails here, before the lab, not in it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from course_lib import i18n
from course_lib.environment import cpu_flags, pinned_requirements
from course_lib.timing import throughput

from . import reach


__all__ = ["PYTHON_TESTED", "Finding", "check_python", "check_packages", "check_imports", "check_widgets", "check_aes",
           "check_gloo", "check_reach", "run_checks", "main"]

PYTHON_TESTED = (3, 11)


@dataclass(frozen=True)
class Finding:
    status: str        # "PASS", "WARN" or "FAIL"
    check: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.status:<4}  {self.check}: {i18n.translate(self.detail)}"
        return text + ("\n      " + i18n.tr("fix: {fix}", fix=i18n.translate(self.fix)) if self.fix else "")


def check_python() -> Finding:
    version = sys.version_info[:2]
    text = ".".join(map(str, sys.version_info[:3]))
    if version == PYTHON_TESTED:
        return Finding("PASS", "python", text)
    return Finding("WARN", "python", f"{text}; the course is tested with {PYTHON_TESTED[0]}.{PYTHON_TESTED[1]}",
                   f"if anything fails, create the environment with python{PYTHON_TESTED[0]}.{PYTHON_TESTED[1]} -m venv .venv")


def check_packages(pins: dict[str, str] | None = None) -> Finding:
    """Every ``name==version`` pin of requirements.txt against what is installed (not only the core ones)."""
    pins = pinned_requirements() if pins is None else pins
    differ = []
    for name, want in pins.items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have.split("+")[0] != want:
            differ.append(f"{name} {have} (pinned {want})")
    if not differ:
        return Finding("PASS", "packages", f"all {len(pins)} pinned packages match requirements.txt")
    return Finding("FAIL", "packages", ", ".join(differ),
                   "pip install -r requirements.txt  (inside the course's virtual environment)")


CHAPTER_OF = {"opacus": "chapter 10", "flwr": "chapter 10b", "tenseal": "chapter 11"}


def check_imports(pins: dict[str, str] | None = None, timeout: float = 180.0, env: dict | None = None) -> Finding:
    """Import every pinned package in a fresh process (``course_tools.import_check``), and make tenseal
    encrypt, opacus build a privacy engine and flwr its SecAgg+ workflow: a version can match its pin
    and still be broken."""
    names = sorted(pinned_requirements() if pins is None else pins)
    try:
        done = subprocess.run([sys.executable, "-m", "course_tools.import_check", *names], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=Path(__file__).resolve().parent.parent)
        failed = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        failed = None
    if failed is None:
        return Finding("FAIL", "imports", "a fresh Python process could not import the course's packages",
                       "pip install --force-reinstall -r requirements.txt")
    if failed:
        broken = "; ".join(f"{name} ({CHAPTER_OF.get(name, 'the course')}): {why}" for name, why in failed.items())
        return Finding("FAIL", "imports", broken, "pip install --force-reinstall -r requirements.txt")
    return Finding("PASS", "imports", f"all {len(names)} pinned packages import; tenseal encrypts and decrypts, "
                                      f"opacus makes a privacy engine, flwr makes its SecAgg+ workflow")


def check_widgets() -> Finding:
    try:
        version = metadata.version("jupyterlab_widgets")
    except metadata.PackageNotFoundError:
        return Finding("FAIL", "widgets", "JupyterLab's widget front-end (jupyterlab_widgets) is missing",
                       "pip install -r requirements.txt  (ipywidgets brings it)")
    extension = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager"
    if not extension.is_dir():
        return Finding("FAIL", "widgets", f"jupyterlab_widgets {version} is installed but its extension is not in "
                       f"{extension.parent}", "pip install --force-reinstall jupyterlab_widgets, then restart JupyterLab")
    return Finding("PASS", "widgets", f"jupyterlab_widgets {version} with its JupyterLab extension")


def check_aes() -> Finding:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    aead = AESGCM(bytes(32))
    speed = throughput(lambda data: aead.encrypt(os.urandom(12), data, None), os.urandom(1 << 20), repeat=3)
    flags = cpu_flags()
    hardware = "unknown (no /proc/cpuinfo on this system)" if flags is None else \
        ("yes" if "aes" in flags else "no")
    detail = f"AES-256-GCM {speed:,.0f} MB/s on one core; AES instructions: {hardware}"
    if speed >= 300:
        return Finding("PASS", "aes", detail)
    return Finding("WARN", "aes", detail + " — encryption will be slower than the course's figures, but correct")


def check_gloo(timeout: float = 60.0) -> Finding:
    """Two parties and a dealer as processes on this machine, with secure channels: a tiny secure sum."""
    from course_lib.mpc import programs, run_distributed
    began = time.perf_counter()
    try:
        results, _ = run_distributed(programs.classroom_sum, parties=2, timeout=timeout,
                                     private_inputs={0: {"value": 2.0}, 1: {"value": 3.0}})
    except Exception as error:  # noqa: BLE001 - every failure becomes a FAIL line with a fix
        return Finding("FAIL", "mpc", f"a local 2-party computation failed: {type(error).__name__}: {error}",
                       "allow Python to listen on 127.0.0.1 (firewall); if this machine has several networks, "
                       "set GLOO_SOCKET_IFNAME to the one to use")
    if results[0]["sum"] != 5.0:
        return Finding("FAIL", "mpc", f"a local secure sum gave {results[0]['sum']} instead of 5.0",
                       "report this: the installation is inconsistent")
    return Finding("PASS", "mpc", f"3 local processes (2 parties + dealer) over gloo with secure channels: "
                                  f"{time.perf_counter() - began:.1f} s")


def check_reach(address: str, timeout: float = 3.0) -> list[Finding]:
    """Outgoing to ``address``, then, where it is the doctor's reach service, incoming from it."""
    seen = reach.check(address, timeout)
    if seen.outgoing is not None:
        return [Finding("FAIL", "network", f"cannot reach {address}: {seen.outgoing}",
                        "join the same network as the instructor; check that no firewall or client isolation "
                        "(common on guest Wi-Fi) blocks the port; or run every party on one machine")]
    found = [Finding("PASS", "network", f"{address} accepts connections")]
    if seen.incoming is None:
        found.append(Finding("PASS", "incoming", f"the instructor's machine connected back to {seen.address}"))
    elif seen.incoming == "busy":
        found.append(Finding("WARN", "incoming", f"not checked: {address} is busy with other laptops' checks",
                             "run the check again in a minute"))
    elif seen.incoming.startswith(reach.BROKE_OFF):
        found.append(Finding("WARN", "incoming", f"not checked: {seen.incoming}",
                             "run the check again; if this repeats, ask the instructor whether "
                             "python -m course_tools.doctor --serve-reach is still running on that port"))
    elif seen.incoming == "unchecked":
        found.append(Finding("WARN", "incoming", f"not checked: {address} did not answer as the doctor's reach "
                             f"service does (it is another program, or the service is too busy to answer in time)",
                             "ask the instructor to run python -m course_tools.doctor --serve-reach PORT, "
                             "and check against that port; if it runs, try again in a minute"))
    else:
        found.append(Finding("FAIL", "incoming", f"the instructor's machine could not connect back to {seen.address} "
                             f"({seen.incoming}): the lab needs incoming connections, since every party connects "
                             f"to every other", "allow incoming connections for Python on this network (Windows: "
                             "Windows Defender Firewall, allow python.exe on private networks; macOS: System "
                             "Settings, Network, Firewall, allow Python; Linux: ufw allow from the room's subnet); "
                             "or take part in the single-machine version of the lab"))
    return found


def run_checks(reach: str | None = None, mpc: bool = True) -> list[Finding]:
    findings = [check_python(), check_packages(), check_imports(), check_widgets(), check_aes()]
    if mpc:
        findings.append(check_gloo())
    if reach:
        findings += check_reach(reach)
    return findings


def _port(text: str) -> int:
    if not reach.is_port(text):
        raise argparse.ArgumentTypeError(i18n.tr("{text!r} is not a port: give a number from 1 to 65535", text=text))
    return int(text)


def _address(text: str) -> str:
    try:
        reach.parse_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(i18n.tr("{text!r} is not HOST:PORT: give the instructor's address and a "
                                                 "port from 1 to 65535, as in 192.168.1.20:29499", text=text)) from None
    return text


def _minutes(text: str) -> float:
    try:
        minutes = float(text) if text.isascii() else float("nan")
    except ValueError:
        minutes = float("nan")
    if not 1 / 60 <= minutes <= 24 * 60:                # a second to a day; also refuses nan and inf
        raise argparse.ArgumentTypeError(i18n.tr("{text!r} is not a time to serve: give minutes, at least 1/60 (a "
                                                 "second) and at most 1440 (a day)", text=text))
    return minutes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reach", metavar="HOST:PORT", type=_address, help="also check that the instructor's machine is reachable and, "
                        "where it runs --serve-reach, that it can connect back to this one")
    parser.add_argument("--serve-reach", type=_port, metavar="PORT",
                        help="instructor: answer the learners' --reach checks on PORT (both directions) for "
                             "--serve-minutes, printing what each laptop's check found; Ctrl-C stops it")
    parser.add_argument("--serve-minutes", type=_minutes, default=None,
                        help="how long --serve-reach serves, at most a day (default 60)")
    parser.add_argument("--no-mpc", action="store_true", help="skip the local multi-process check (≈ 5 s)")
    parser.add_argument("--lang", choices=sorted(i18n.LANGUAGES), default=None,
                        help="language of the report (default: COURSE_LANG, else English)")
    args = parser.parse_args(argv)
    if args.serve_reach is not None and args.reach:
        parser.error(i18n.tr("--reach is the learners' check and --serve-reach the instructor's service: give one"))
    if args.serve_reach is None and args.serve_minutes is not None:
        parser.error(i18n.tr("--serve-minutes goes with --serve-reach PORT"))
    if args.serve_minutes is None:
        args.serve_minutes = 60.0
    if not args.lang:
        return _report(args)
    before = i18n._chosen
    i18n.set_language(args.lang)
    try:
        return _report(args)
    finally:
        i18n.set_language(before)


def _report(args) -> int:
    if args.serve_reach is not None:
        print(i18n.tr("answering reach checks on port {port} for {minutes:g} minutes: learners run "
                      "python -m course_tools.doctor --reach THIS-MACHINE:{port}", port=args.serve_reach,
                      minutes=args.serve_minutes), flush=True)
        try:
            reach.serve(args.serve_reach, seconds=60 * args.serve_minutes, log=lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            pass
        except OSError as error:
            print(i18n.tr("cannot listen on port {port}: {error}", port=args.serve_reach, error=error))
            return 1
        return 0
    findings = run_checks(args.reach, mpc=not args.no_mpc)
    for finding in findings:
        print(finding, flush=True)
    failed = sum(f.status == "FAIL" for f in findings)
    print("\n" + i18n.tr("{passed} of {total} checks passed", passed=len(findings) - failed, total=len(findings))
          + ("" if not failed else i18n.tr("; fix the FAIL lines")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
