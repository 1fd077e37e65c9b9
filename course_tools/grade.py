"""Grade collected student notebooks: ``python -m course_tools.grade SUBMISSIONS... [--out grades.csv]``.

Each ``SUBMISSIONS`` argument is a folder holding one folder per student (``alice/07_….ipynb``, or
nbgrader's ``submitted/alice/07_…/07_….ipynb``: the first folder below the argument names the
student) or a single notebook. The result is a student × exercise table in CSV, the number of
exercises passed per student, and a second CSV with the reason for every outcome.

**The grader decides from what it runs itself.** It does not execute the learner's notebook and
reads nothing the learner's kernel wrote (no log, no output, no check cell). For every exercise it
takes the learner's *exercise cell* — the cell with the same id as the instructor notebook's
solution cell — and runs that cell alone, after the chapter's imports, in a fresh process forked
from a worker that imported a pristine ``course_lib`` before any learner's code (for an MPC
exercise, one such process per party and one for the dealer). The course's own check runs in
another process, where no learner's code runs, with a seed derived from the instructor's secret
and the student's name (HMAC-SHA256), so hidden tests differ per student; the learner's processes
never receive that seed, and seed their own generators from another. The check calls the cell's
functions through a pipe: the arguments go to the learner's process, the results
come back as plain data (numbers, strings, bytes, lists, dicts, arrays, tensors — never unpickled),
so that process can choose its own answers but cannot forge a grade. Running only the exercise
cells, rather than the whole notebook followed by a separate grading process, is what keeps the
rest of the notebook out of the grade: no earlier cell can patch what the grader calls. It is also
fast enough: a few seconds per student for all of the course's exercises, against ten to thirty
seconds per chapter to execute the notebooks.

Statuses:

* ``passed`` — the course's check passed on the functions the exercise cell defines;
* ``failed`` — the check failed, the cell raised or does not parse, a function returned something
  that is not plain data, the learner's process wrote anything but its answers to the grader, or
  the run exceeded its time (``failed: timed out``) or memory limit;
* ``not yet solved`` — the cell still raises the stub's ``NotImplementedError``;
* ``refused`` — the cell was not graded: it uses the course's own answer (the reference, or what
  ``or_reference`` hands out), an object of ``course_lib.check``, patches or mutates a library, or
  reaches for the interpreter's machinery (the details file says which);
* ``missing`` — the student's notebook has no exercise cell for it, or there is no notebook of
  that chapter from this student;
* ``not run`` — the grader could not run it (the notebook file is unreadable, or a grading worker
  died).

The learner's code still runs with your privileges, under limits but not in a sandbox: run the
grader in a container or a throw-away VM. ``docs/grading.md`` has the threat model.
"""
from __future__ import annotations

import argparse
import csv
import sys
import textwrap
import time
from pathlib import Path

import nbformat

from course_lib.environment import REPO_ROOT
from course_tools.grading.answers import LIBRARY_ANSWERS, library_answers
from course_tools.grading.exercises import chapter_of, course_exercises, exercise_cell
from course_tools.grading.pool import Pool
from course_tools.grading.screen import screen
from course_tools.grading.seeds import DEFAULT_KEY_FILE, load_key, process_seed, seed_for

__all__ = ["STATUSES", "submissions", "plan", "grade_notebooks", "grade_notebook", "grade", "worker_init", "main"]

STATUSES = ("passed", "failed", "not yet solved", "refused", "missing", "not run")
_WATCHED = ("course_lib", "course_tools")


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


def worker_init(exercises) -> dict:
    """What every worker imports and resolves before it grades anything."""
    imports = sorted({line for e in exercises for line in e.preamble.splitlines()
                      if line.startswith(("import ", "from "))})
    warm = [{"exercise": e.name, "source": e.solution, "preamble": e.preamble, "functions": list(e.functions)}
            for e in exercises if e.solution]
    return {"imports": imports, "answers": {name: list(dotted) for name, dotted in LIBRARY_ANSWERS.items()},
            "warm": warm}


def plan(student: str, nb, notebook: str, exercises, key: bytes, *, timeout: float = 120, memory_mb: int = 2048):
    """For one submission: ({exercise: outcome} decided without running, [jobs for the workers])."""
    decided, jobs = {}, []
    for exercise in (e for e in exercises if e.notebook == notebook):
        source = exercise_cell(nb, exercise)
        if source is None:
            decided[exercise.name] = {"status": "missing", "detail": "the notebook has no exercise cell for it"}
            continue
        reason = screen(source, exercise.preamble, library_answers(exercise.name))
        if reason:
            decided[exercise.name] = {"status": "refused", "detail": reason}
            continue
        jobs.append({"job": f"{student}/{exercise.name}", "exercise": exercise.name, "source": source,
                     "preamble": exercise.preamble, "functions": list(exercise.functions),
                     "seed": seed_for(key, student, exercise.name),
                     "judge_seed": process_seed(key, "judge", student, exercise.name),
                     "child_seed": process_seed(key, "child", student, exercise.name),
                     "timeout": timeout, "memory_mb": memory_mb})
    return decided, jobs


def _course_files() -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for folder in _WATCHED
            for p in sorted((REPO_ROOT / folder).rglob("*.py")) if p.is_file()}


def grade_notebooks(pairs, key: bytes, *, pool: Pool | None = None, jobs: int | None = None, timeout: float = 120,
                    memory_mb: int = 2048, exercises=None):
    """Grade (student, notebook path or NotebookNode, name) triples; returns {student: {exercise: outcome}}
    and the notebook each outcome came from. ``pool`` is reused if given (nbgrader grades one at a time)."""
    exercises = exercises or course_exercises()
    table, planned, chosen = {}, [], {}
    for student, nb, name in pairs:                  # one notebook per student and chapter: the course's name wins
        chapter = chapter_of(Path(name), nb or nbformat.v4.new_notebook(), exercises)
        if (student, chapter) in chosen and chapter is not None and name != chapter:
            print(f"skipped {student}/{name}: {student} also handed in {chosen[student, chapter]}", file=sys.stderr)
            continue
        if (student, chapter) in chosen and chapter is not None:
            print(f"skipped {student}/{chosen[student, chapter]}: {student} also handed in {name}", file=sys.stderr)
        chosen[student, chapter] = name
    for student, nb, name in pairs:
        chapter = chapter_of(Path(name), nb or nbformat.v4.new_notebook(), exercises)
        if chapter is not None and chosen.get((student, chapter)) != name:
            continue
        outcomes = table.setdefault(student, {})
        if nb is None:
            outcomes.update({e.name: {"status": "not run", "detail": f"{name} is not a readable notebook",
                                      "notebook": name} for e in exercises if e.notebook == chapter})
            continue
        if chapter is None:
            print(f"skipped {student}/{name}: not a notebook of this course", file=sys.stderr)
            continue
        decided, todo = plan(student, nb, chapter, exercises, key, timeout=timeout, memory_mb=memory_mb)
        for exercise, outcome in decided.items():
            outcomes[exercise] = {**outcome, "notebook": name}
        planned += [(student, name, job) for job in todo]
    before = _course_files()
    own = pool is None
    pool = pool or Pool(worker_init(exercises), jobs)
    try:
        results = pool.run([job for _, _, job in planned])
    finally:
        if own:
            pool.close()
    if not pool.confined and _course_files() != before:      # without Landlock, a child could write to them
        changed = sorted(str(p.relative_to(REPO_ROOT)) for p, v in _course_files().items() if before.get(p) != v)
        raise RuntimeError(f"the course's own files changed while grading ({', '.join(changed) or 'deleted'}): a "
                           f"submission wrote to them, or someone edited them. These grades are void; restore the "
                           f"files and grade in a container")
    for (student, name, job), result in zip(planned, results):
        table[student][job["exercise"]] = {**result, "notebook": name}
    return table


def _read(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - any unreadable file is reported as "not run"
        return None


def grade_notebook(path: Path, key: bytes, student: str | None = None, **options) -> dict[str, str]:
    """Grade one notebook (``student`` defaults to its folder's name); returns {exercise: status}."""
    path = Path(path)
    student = student or path.parent.name
    table = grade_notebooks([(student, _read(path), path.name)], key, **options)
    return {exercise: outcome["status"] for exercise, outcome in table.get(student, {}).items()}


def grade(arguments, out: Path, key: bytes, *, details: Path | None = None, **options) -> list[dict]:
    """Grade every submission, write the student × exercise CSV and the details CSV; returns the rows."""
    exercises = options.pop("exercises", None) or course_exercises()
    pairs = [(student, _read(path), path.name) for student, path in submissions(arguments)]
    table = grade_notebooks(pairs, key, exercises=exercises, **options)
    graded = {o["notebook"] for outcomes in table.values() for o in outcomes.values()}
    chapters = {chapter_of(Path(n), nbformat.v4.new_notebook(), exercises) for n in graded}
    columns = [e.name for e in exercises if e.notebook in chapters]
    rows = []
    for student, outcomes in sorted(table.items()):
        row = {"student": student, **{name: outcomes.get(name, {}).get("status", "missing") for name in columns}}
        row["passed"] = sum(row[name] == "passed" for name in columns)
        rows.append(row)
    out = Path(out)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *columns, "passed"])
        writer.writeheader()
        writer.writerows(rows)
    details = Path(details) if details else out.with_suffix(".details.csv")
    with open(details, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "exercise", "status", "detail", "notebook", "seconds"])
        for student, outcomes in sorted(table.items()):
            for name in columns:
                o = outcomes.get(name, {"status": "missing", "detail": "no notebook of this chapter", "notebook": ""})
                writer.writerow([student, name, o["status"], o.get("detail", ""), o.get("notebook", ""),
                                 o.get("seconds", "")])
    return rows


def _parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    statuses = doc[doc.index("Statuses:") + 1]
    parser = argparse.ArgumentParser(
        prog="python -m course_tools.grade", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(doc[0].split(": ", 1)[0] + ". Each exercise cell runs alone in a fresh process "
        "(one per party for the MPC exercises), after the chapter's imports; the course's own check runs in "
        "another process, with a seed derived from your key and the student's name that the student's processes "
        "never receive, and calls the cell's functions through a pipe that carries plain data only (objects of "
        "the check's are lent through a fixed list of methods); nothing the student's kernel wrote decides a "
        "grade.", 100),
        epilog="statuses:\n" + statuses.replace("``", "") + "\n\n" + textwrap.fill(
            "The students' code runs with your privileges (confined with Landlock where Linux offers it): grade in "
            "a container or a throw-away VM. Resisted: forged logs and reports (also from inside the student's "
            "process), patched checks, edited or repeated check cells, the course's own answers, shared answer keys "
            "(per-student seeds), the hidden seed read from the student's own process, MPC parties that pool "
            "their shares or inputs. Not resisted: a student who retypes the library's source, students who share "
            "code, parties that talk past the screen (sockets, timing), a table for tool_for_threat (no random "
            "tests). Threat model and the nbgrader round trip: docs/grading.md.", 100))
    parser.add_argument("submissions", nargs="+", help="folders with one subfolder per student, or notebooks")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV to write (default: grades.csv)")
    parser.add_argument("--details", type=Path, help="the CSV of reasons (default: OUT with .details.csv)")
    parser.add_argument("--key-file", type=Path, default=DEFAULT_KEY_FILE,
                        help="the instructor's secret the hidden seeds derive from; created if missing "
                             "(default: grading.key)")
    parser.add_argument("--seed", help="use this text as the secret instead of a key file (quick runs only)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed per exercise (default: 120)")
    parser.add_argument("--memory", type=int, default=2048, help="MB of memory allowed per exercise (default: 2048)")
    parser.add_argument("--jobs", type=int, help="exercises graded at once (default: the number of cores)")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    key, where = load_key(args.key_file, args.seed)
    print(where)
    started = time.perf_counter()
    rows = grade(args.submissions, args.out, key, details=args.details, jobs=args.jobs, timeout=args.timeout,
                 memory_mb=args.memory)
    counts = {}
    for row in rows:
        for name, value in row.items():
            if name not in ("student", "passed"):
                counts[value] = counts.get(value, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    print(f"graded {len(rows)} student(s) into {args.out} in {time.perf_counter() - started:.0f} s: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
