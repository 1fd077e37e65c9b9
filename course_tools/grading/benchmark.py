"""Time the grader on a class: ``python -m course_tools.grading.benchmark [--students 30] [--unsolved 0.0]``.

Writes ``--students`` submissions of every chapter into a temporary folder — the instructor
notebooks, i.e. every exercise solved (the slowest case: every check runs to the end), or, for a
fraction ``--unsolved`` of the students, the student versions — grades them with a fresh set of
workers, and prints one JSON object: students, exercises graded, seconds (worker start included),
the outcomes, the cores and the load average before and after (the figure is only comparable
between runs on an idle machine). The course's target is 30 submissions in at most 5 minutes on
2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from course_tools import grade, student
from course_tools.grading.exercises import NOTEBOOKS, course_exercises

__all__ = ["run", "main"]


def run(students: int = 30, unsolved: float = 0.0, jobs: int | None = None) -> dict:
    """Grade ``students`` synthetic submissions of the whole course; returns the measurements."""
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    folder = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    try:
        stubs = folder / "stubs"
        student.build(notebooks, stubs)
        cutoff = round(students * (1 - unsolved))
        for n in range(students):
            home = folder / "submitted" / f"student{n:02d}"
            home.mkdir(parents=True)
            for path in notebooks:
                shutil.copy(path if n < cutoff else stubs / path.name, home / path.name)
        load_before = os.getloadavg()
        started = time.perf_counter()
        rows = grade.grade([folder / "submitted"], folder / "grades.csv", b"benchmark key", jobs=jobs,
                           exercises=course_exercises())
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    outcomes = {}
    for row in rows:
        for name, value in row.items():
            if name not in ("student", "passed"):
                outcomes[value] = outcomes.get(value, 0) + 1
    return {"benchmark": "grading", "students": students, "exercises": sum(outcomes.values()),
            "seconds": round(seconds, 1), "target_seconds": 300, "outcomes": outcomes, "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.grading.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="submissions to grade (default: 30)")
    parser.add_argument("--unsolved", type=float, default=0.0, help="fraction of them left unsolved (default: 0)")
    parser.add_argument("--jobs", type=int, help="workers (default: the number of cores)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.students, args.unsolved, args.jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
