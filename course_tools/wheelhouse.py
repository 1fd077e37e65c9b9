"""An offline wheelhouse for a room without Wi-Fi: ``python -m course_tools.wheelhouse [--out wheels]``.

Run it, with the network, on a machine of the learners' platform (one machine per platform in the
room: a Windows laptop, an Apple-silicon Mac on macOS 14 or later, a Linux laptop). It downloads
every package of ``requirements.txt`` and what pip needs to build the course's own package
(``pyproject.toml``'s ``[build-system] requires``: setuptools), then checks the folder alone: it
resolves ``pip install --no-index --find-links OUT -r requirements.txt`` as a dry run with every
pip setting of this machine switched off (no configuration file, no ``PIP_*`` variable, so no
other index or folder can fill a gap), and prints the command the learners run.

There is no ``--platform`` option on purpose: pip evaluates a dependency's environment markers for
the interpreter that runs it, not for ``--platform``, so a Mac wheelhouse downloaded on Linux
asks for torch's Linux-only dependencies (``cuda-bindings``) and fails (docs/teaching.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from course_lib.environment import REPO_ROOT

__all__ = ["WheelhouseError", "build_requirements", "download", "verify", "learner_command", "main"]


class WheelhouseError(RuntimeError):
    """The wheelhouse cannot be made, or does not hold everything the course installs."""


def build_requirements(project: Path = REPO_ROOT) -> list[str]:
    """What pip needs to build ``project`` (its ``[build-system] requires``)."""
    with open(project / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f).get("build-system", {}).get("requires", []))


def _pip(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    try:                # cwd: requirements.txt's "-e ." means the project wherever pip runs
        return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise WheelhouseError(f"pip {args[0]} took more than {timeout:.0f} s") from None


def _last_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    return lines[-1] if lines else (done.stderr.strip().splitlines() or ["(no message)"])[-1]


def _packages(requirements: Path) -> list[str]:
    """The requirement lines of ``requirements`` but its editable ones (the course itself, which the
    learners have as a folder: pip would otherwise zip the whole folder into the wheelhouse)."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith(("-e", "--editable"))]


def download(out: Path, requirements: Path = REPO_ROOT / "requirements.txt", project: Path = REPO_ROOT) -> None:
    """Every package of ``requirements`` and of ``project``'s build requirements, into ``out``."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    done = _pip(["download", "-q", *_packages(requirements), *build_requirements(project), "-d", str(out)],
                project, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode:
        raise WheelhouseError(f"pip download failed: {_last_error(done)}")


def _offline_environment() -> dict:
    """This process's environment without any pip setting: no configuration file, no PIP_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _has(out: Path, requirement: str) -> bool:
    name = requirement.split(";")[0].split("[")[0]
    for mark in "<>=!~ ":
        name = name.split(mark)[0]
    wanted = name.strip().lower().replace("-", "_").replace(".", "_")
    return any(file.name.lower().replace("-", "_").replace(".", "_").startswith(wanted + "_") for file in out.iterdir())


def verify(out: Path, requirements: Path = REPO_ROOT / "requirements.txt", project: Path = REPO_ROOT) -> int:
    """Resolve the learners' offline install from ``out`` alone (a dry run); the number of packages."""
    out = out.resolve()
    missing = [r for r in build_requirements(project) if not _has(out, r)]
    if missing:
        raise WheelhouseError(f"{out} lacks {', '.join(missing)}, which pip needs to install the course's own "
                              f"package offline: run python -m course_tools.wheelhouse --out {out} again")
    report = out / ".offline-check.json"
    done = _pip(["install", "--dry-run", "--ignore-installed", "--no-index", "--find-links", str(out), "-r",
                 str(requirements), "--report", str(report)], project, env=_offline_environment(), timeout=600)
    try:
        if done.returncode:
            raise WheelhouseError(f"{out} is not enough for an offline install: {_last_error(done)}")
        return len(json.loads(report.read_text(encoding="utf-8"))["install"])
    finally:
        report.unlink(missing_ok=True)


def learner_command(out: Path) -> str:
    return f"pip install --no-index --find-links PATH/TO/{out.resolve().name}/ -r requirements.txt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.wheelhouse", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="wheels", help="the folder to fill (default: wheels)")
    parser.add_argument("--check-only", action="store_true", help="only check a folder made before")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if not args.check_only:
            download(out)
        elif not out.is_dir():
            raise WheelhouseError(f"no folder {out}")
        count = verify(out)
    except WheelhouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{out}: an offline install resolves from this folder alone ({count} packages). Copy it and the "
          f"course to a USB stick; in the course's folder, learners run:\n    {learner_command(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
