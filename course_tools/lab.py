"""Open the course in JupyterLab: ``python -m course_tools.lab [--instructor] [-- JUPYTER-ARGS]``.

Learners land on the student versions (``student/``): any that are missing are built first,
and existing ones — a learner's work — are never touched. ``--instructor`` opens
``notebooks/`` instead, with the solutions. Anything after ``--`` goes to ``jupyter lab``
(for example ``-- --no-browser --port 8899``).
"""
from __future__ import annotations

import argparse
import os
import sys

from course_lib.environment import REPO_ROOT

from . import student


__all__ = ["command", "main"]


def command(argv=None) -> list[str]:
    """The ``jupyter lab`` command line to run, after building any missing student notebooks."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    ours = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m course_tools.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--instructor", action="store_true",
                        help="open notebooks/ (with the solutions) instead of the student versions")
    args = parser.parse_args(ours)
    if args.instructor:
        folder = REPO_ROOT / "notebooks"
    else:
        folder = REPO_ROOT / "student"
        written, kept = student.build_report(out=folder)
        if written:
            print(f"built {len(written)} student notebook(s) in {folder}")
        if kept:
            print(f"kept {len(kept)} existing student notebook(s): your work is untouched")
    return [sys.executable, "-m", "jupyterlab", str(folder), *extra]


def main(argv=None) -> int:
    line = command(argv)
    os.execv(line[0], line)   # replaces this process: Ctrl-C stops JupyterLab as usual
    return 0


if __name__ == "__main__":
    sys.exit(main())
