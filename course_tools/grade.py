"""Grade collected student notebooks: ``python -m course_tools.grade SUBMISSIONS... [--out grades.csv]``.

Each ``SUBMISSIONS`` argument is a folder holding one folder per student (``alice/07_….ipynb``,
or nbgrader's ``submitted/alice/07/07_….ipynb``: the first folder below the argument names the
student) or a single notebook. Every notebook runs top to bottom in a fresh kernel, in grading
mode (``course_lib.check``): checks use a fixed seed and log their outcomes. The result is a
student × exercise table in CSV: ``passed``, ``failed``, ``not yet solved``, or ``not run``
(the notebook stopped, or timed out, before reaching the check).

This runs the students' code with your privileges: run it in a container or a throw-away VM.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError


__all__ = ["exercises_in", "grade_notebook", "submissions", "grade", "main"]

_CHECK_CALL = re.compile(r"\bcl\.check\.(\w+)\(")


def exercises_in(nb) -> list[str]:
    """The exercises a notebook checks, in order (``cl.check.<name>(…)`` calls)."""
    names = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for name in _CHECK_CALL.findall(cell.source):
                if name not in names:
                    names.append(name)
    return names


def grade_notebook(path: Path, seed: int = 0, timeout: int = 300) -> dict[str, str]:
    """Execute one student notebook in grading mode; returns {exercise: status}."""
    nb = nbformat.read(path, as_version=4)
    outcomes = dict.fromkeys(exercises_in(nb), "not run")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "outcomes.jsonl"
        log.touch()
        saved = {k: os.environ.get(k) for k in ("COURSE_GRADING", "COURSE_CHECK_SEED")}
        os.environ.update(COURSE_GRADING=str(log), COURSE_CHECK_SEED=str(seed))
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except (CellTimeoutError, DeadKernelError):
            pass   # the exercises it did not reach stay "not run"
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        for line in log.read_text().splitlines():
            record = json.loads(line)
            if record["exercise"] in outcomes:
                outcomes[record["exercise"]] = record["status"]
    return outcomes


def submissions(arguments) -> list[tuple[str, Path]]:
    """(student, notebook) pairs from folders (one subfolder per student) and single notebooks."""
    found = []
    for argument in map(Path, arguments):
        if argument.is_file():
            found.append((argument.parent.name, argument))
            continue
        for notebook in sorted(argument.rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in notebook.parts:
                found.append((notebook.relative_to(argument).parts[0], notebook))
    return found


def grade(arguments, out: Path, seed: int = 0, timeout: int = 300) -> list[dict]:
    """Grade every submission and write the student × exercise CSV; returns its rows."""
    table, columns = {}, []
    for student, notebook in submissions(arguments):
        outcomes = grade_notebook(notebook, seed, timeout)
        columns += [name for name in outcomes if name not in columns]
        table.setdefault(student, {}).update(outcomes)
    rows = []
    for student, outcomes in sorted(table.items()):
        row = {"student": student, **{name: outcomes.get(name, "missing") for name in columns}}
        row["passed"] = sum(status == "passed" for status in outcomes.values())
        rows.append(row)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *columns, "passed"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", nargs="+", help="folders with one subfolder per student, or notebooks")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write (default: grades.csv)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every check's random tests (default: 0)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell (default: 300)")
    args = parser.parse_args(argv)
    rows = grade(args.submissions, args.out, args.seed, args.timeout)
    print(f"graded {len(rows)} student(s) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
