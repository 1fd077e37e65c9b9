"""The full nbgrader round trip, with the pinned nbgrader: generate, release, fetch, submit, collect,
autograde, generate_feedback — and nbgrader's scores equal the course grader's CSV (chapter 00)."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_00 = ROOT / "notebooks" / "00_welcome_threat_model.ipynb"
ASSIGNMENT = CHAPTER_00.stem

pytestmark = pytest.mark.skipif(shutil.which("nbgrader", path=str(Path(sys.executable).parent)) is None,
                                reason="nbgrader is not installed")


def _instructor_sources() -> dict:
    nb = nbformat.read(CHAPTER_00, as_version=4)
    return {cell.get("id"): cell.source for cell in nb.cells}


def _work(name: str, nb) -> None:
    """What each student does to the released notebook before submitting it."""
    solutions = _instructor_sources()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if name == "alice" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solutions[cell.get("id")]                      # full marks
        if name == "bob" and "def seconds_to_process" in cell.source:
            cell.source = solutions[cell.get("id")]                      # partial: one of two
        if name == "mallory":
            if "def tool_for_threat" in cell.source:
                cell.source = solutions[cell.get("id")]
            elif "def seconds_to_process" in cell.source:                # the library's answer, not hers
                cell.source = "seconds_to_process = cl.timing.seconds_for"
            elif grade_id.endswith("-seconds_to_process"):               # tamper with the test cell
                cell.source = "cl.check.seconds_to_process(cl.timing.seconds_for)"
    if name == "mallory":                                                # and patch what the test calls
        index = next(i for i, c in enumerate(nb.cells) if "def seconds_to_process" in c.source
                     or "seconds_to_process = " in c.source)
        nb.cells.insert(index, nbformat.v4.new_code_cell(
            "cl.check.CheckResult.raise_if_failed = lambda self: self"))


def round_trip(course: Path) -> dict:
    """Run in a fresh process: every nbgrader step in one interpreter, then the course grader."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory
    from traitlets.config.loader import PyFileConfigLoader

    from course_tools import grade, student
    from course_tools.grading.nbgrader import _pool

    student.write_nbgrader_sources([CHAPTER_00], course)
    config_file = student.write_nbgrader_config(course)
    with open(config_file, "a", encoding="utf-8") as f:
        f.write(f"c.Exchange.root = {str(course / 'exchange')!r}\nc.Exchange.cache = {str(course / 'cache')!r}\n"
                f"c.Exchange.path_includes_course = True\nc.CollectApp.check_owner = False\n")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    os.chdir(course)
    _pool()                                       # the grader's workers start importing while nbgrader works
    api = NbGraderAPI(config=config)
    steps = {"generate_assignment": api.generate_assignment(ASSIGNMENT),
             "release_assignment": api.release_assignment(ASSIGNMENT)}
    exchange = ExchangeFactory(config=config)
    for name in ("alice", "bob", "mallory"):
        home = course / "students" / name
        home.mkdir(parents=True)
        local = config.copy()
        local.Exchange.assignment_dir = str(home)
        coursedir = CourseDirectory(config=local, assignment_id=ASSIGNMENT, student_id=name)
        exchange.FetchAssignment(coursedir=coursedir, authenticator=Authenticator(config=local), config=local).start()
        path = home / "cryptography-for-deep-learning" / ASSIGNMENT / CHAPTER_00.name
        nb = nbformat.read(path, as_version=4)
        _work(name, nb)
        nbformat.write(nb, path)
        exchange.Submit(coursedir=coursedir, authenticator=Authenticator(config=local), config=local).start()
    steps["collect"] = api.collect(ASSIGNMENT)
    for name in ("alice", "bob", "mallory"):
        steps[f"autograde {name}"] = api.autograde(ASSIGNMENT, name)
    steps["generate_feedback"] = api.generate_feedback(ASSIGNMENT)
    failed = {step: result.get("error") or result.get("log") for step, result in steps.items() if not result["success"]}
    scores, cells = {}, {}
    with Gradebook(api.coursedir.db_url) as gb:
        for name in ("alice", "bob", "mallory"):
            scores[name] = gb.find_submission(ASSIGNMENT, name).score
            cells[name] = {g.name.rsplit("-", 1)[1]: g.score for g in gb.find_submission_notebook(
                ASSIGNMENT, ASSIGNMENT, name).grades}
    key, _ = grade.load_key(course / "grading.key")
    rows = grade.grade([course / "submitted"], course / "grades.csv", key, pool=_pool())
    feedback = sorted(str(p.relative_to(course)) for p in (course / "feedback").rglob("*.html"))
    texts = {name: (course / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
             for name in ("alice", "bob", "mallory")}
    return {"failed": failed, "scores": scores, "cells": cells, "rows": rows, "feedback": feedback,
            "verdict_in_feedback": {n: "course_tools.grade:" in t for n, t in texts.items()}}


def test_nbgrader_round_trip_scores_what_the_course_grader_says(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    code = (f"import json, sys; from pathlib import Path; sys.path.insert(0, {str(ROOT)!r}); "
            f"from tests.test_grading_nbgrader import round_trip; "
            f"print('RESULT ' + json.dumps(round_trip(Path({str(course)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert not result["failed"], result["failed"]
    assert result["scores"] == {"alice": 2.0, "bob": 1.0, "mallory": 1.0}
    assert result["cells"]["mallory"] == {"seconds_to_process": 0.0, "tool_for_threat": 1.0}   # tampered: no point
    rows = {row["student"]: row for row in result["rows"]}
    for name, score in result["scores"].items():
        assert rows[name]["passed"] == score
        for exercise, points in result["cells"][name].items():
            assert (rows[name][exercise] == "passed") == (points == 1.0), (name, exercise)
    assert rows["mallory"]["seconds_to_process"] == "refused"
    assert rows["bob"]["tool_for_threat"] == "not yet solved"
    assert len(result["feedback"]) == 3 and all(result["verdict_in_feedback"].values())
    with open(course / "grades.details.csv", encoding="utf-8") as f:
        details = {(r["student"], r["exercise"]): r["detail"] for r in csv.DictReader(f)}
    assert "course_lib.timing.seconds_for" in details["mallory", "seconds_to_process"]


def test_the_nbgrader_export_writes_a_config_that_scores_with_the_course_grader(tmp_path):
    from course_tools import student
    from course_tools.grading import nbgrader as plugin
    config = student.write_nbgrader_config(tmp_path)
    text = config.read_text()
    assert "autograde_preprocessors()" in text and "CourseGrade.key_file" in text
    assert student.write_nbgrader_config(tmp_path) is None                    # an existing config is kept
    names = [p.__name__ for p in plugin.autograde_preprocessors()]
    assert "Execute" not in names and names.index("CourseGrade") < names.index("SaveAutoGrades")
    with_execute = [p.__name__ for p in plugin.autograde_preprocessors(execute=True)]
    assert with_execute.index("Execute") < with_execute.index("CourseGrade")
