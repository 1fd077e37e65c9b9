"""Grading: checks that fail loudly, the CSV grader, and nbgrader-compatible notebooks."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import course_lib as cl
from course_tools import grade, student
from course_lib.check import ExerciseFailed

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
CHAPTER_00 = NOTEBOOKS[0]


def test_in_grading_mode_a_check_that_does_not_pass_raises_and_every_outcome_is_logged(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSE_GRADING", str(log))
    assert cl.check.seconds_to_process(cl.timing.seconds_for)
    with pytest.raises(ExerciseFailed, match="seconds_to_process"):
        cl.check.seconds_to_process(lambda nbytes, mb_per_s: nbytes / mb_per_s)    # forgot the 10**6

    def stub(nbytes, mb_per_s):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="not yet solved"):
        cl.check.seconds_to_process(stub)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["status"] for r in records] == ["passed", "failed", "not yet solved"]


def test_outside_grading_mode_a_failed_check_only_shows():
    assert not cl.check.seconds_to_process(lambda nbytes, mb_per_s: nbytes / mb_per_s)


def _wrong_answer(nb):
    for cell in nb.cells:
        if "def seconds_to_process" in cell.source:
            cell.source = cell.source.replace("return nbytes / (mb_per_s * 1e6)", "return nbytes / mb_per_s")
            return nb
    raise AssertionError("chapter 00 changed: update this test")


def test_the_grader_writes_a_student_by_exercise_table_reproducibly(tmp_path):
    submissions = tmp_path / "submitted"
    for name in ("alice", "bob", "carol"):
        (submissions / name).mkdir(parents=True)
    shutil.copy(CHAPTER_00, submissions / "alice" / CHAPTER_00.name)                  # solved
    student.build([CHAPTER_00], submissions / "bob")                                 # unsolved
    nbformat.write(_wrong_answer(nbformat.read(CHAPTER_00, as_version=4)), submissions / "carol" / CHAPTER_00.name)
    out = tmp_path / "grades.csv"
    assert grade.main([str(submissions), "--out", str(out)]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert rows["alice"] == {"student": "alice", "seconds_to_process": "passed", "tool_for_threat": "passed", "passed": "2"}
    assert rows["bob"]["seconds_to_process"] == rows["bob"]["tool_for_threat"] == "not yet solved"
    assert rows["carol"]["seconds_to_process"] == "failed" and rows["carol"]["tool_for_threat"] == "passed"
    first = out.read_text()
    grade.main([str(submissions), "--out", str(out)])
    assert out.read_text() == first


def test_a_notebook_that_stops_early_leaves_its_later_exercises_not_run(tmp_path):
    nb = nbformat.read(CHAPTER_00, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "def tool_for_threat" in c.source)
    nb.cells.insert(index, nbformat.v4.new_code_cell("import time\ntime.sleep(60)"))
    path = tmp_path / "dave" / CHAPTER_00.name
    path.parent.mkdir()
    nbformat.write(nb, path)
    assert grade.grade_notebook(path, timeout=5) == {"seconds_to_process": "passed", "tool_for_threat": "not run"}


@pytest.mark.skipif(shutil.which("nbgrader", path=str(Path(sys.executable).parent)) is None,
                    reason="nbgrader is not installed")
def test_nbgrader_generates_every_assignment_without_solutions(tmp_path):
    written = student.write_nbgrader_sources(NOTEBOOKS, tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for source in written:
        done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "generate_assignment", source.parent.name,
                               "--force"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        release = nbformat.read(tmp_path / "release" / source.parent.name / source.name, as_version=4)
        text = "\n".join(c.source for c in release.cells)
        assert student.BEGIN not in text and "raise NotImplementedError()" in text
        graded = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded and all(c.source.endswith(".raise_if_failed()") for c in graded)
        assert all("raises-exception" in c.metadata.get("tags", []) for c in graded)
