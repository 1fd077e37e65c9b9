"""Grading: checks show in the learner's kernel only, the CSV grader, its statuses and keys, and
nbgrader-compatible notebooks. The attacks on the grader are in test_grading_cheats.py, the nbgrader
round trip in test_grading_nbgrader.py."""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import course_lib as cl
from course_tools import grade, student
from course_tools.grading.answers import LIBRARY_ANSWERS, library_answers
from course_tools.grading.exercises import course_exercises, exercise_cell
from course_tools.grading.screen import screen
from course_tools.grading.seeds import load_key, seed_for
from course_lib.check import REGISTRY, ExerciseFailed

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
CHAPTER_00 = NOTEBOOKS[0]


def test_a_check_only_shows_its_result_in_the_learners_kernel_and_logs_nothing(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSE_GRADING", str(log))           # the old grading mode is gone
    result = cl.check.seconds_to_process(lambda nbytes, mb_per_s: nbytes / mb_per_s)    # forgot the 10**6
    assert not result and result.status == "failed"
    assert not log.exists()
    with pytest.raises(ExerciseFailed, match="seconds_to_process"):
        result.raise_if_failed()                             # what nbgrader's test cells call
    assert cl.check.seconds_to_process(cl.timing.seconds_for).raise_if_failed()


def test_every_exercise_of_the_course_is_graded_from_its_instructor_cell():
    exercises = course_exercises()
    course_checks = [name for name, check in REGISTRY.items()             # not the checks other tests register
                     if check.__module__.startswith("course_lib.check.ch")]
    assert sorted(e.name for e in exercises) == sorted(course_checks)    # every cl.check.<name> of 00–11
    assert len({e.cell_id for e in exercises}) == len(exercises) and all(e.cell_id for e in exercises)
    for e in exercises:
        assert screen(e.solution, e.preamble, library_answers(e.name)) is None, e.name   # the screen lets them in
        nb = nbformat.read(next(p for p in NOTEBOOKS if p.name == e.notebook), as_version=4)
        assert exercise_cell(student.student_notebook(nb), e).count("raise NotImplementedError") == len(e.functions)
    assert set(LIBRARY_ANSWERS) <= set(REGISTRY)
    assert REGISTRY["mask_update"].reference() is cl.secagg.add_pairwise_masks     # marks the grader reads


def test_the_exercise_cell_is_found_by_id_then_by_nbgrader_id_then_by_what_it_defines():
    nb = nbformat.read(CHAPTER_00, as_version=4)
    exercise = next(e for e in course_exercises() if e.name == "seconds_to_process")
    cell = next(c for c in nb.cells if c.get("id") == exercise.cell_id)
    assert exercise_cell(nb, exercise) == cell.source
    cell.id = "renamed1"
    cell.metadata["nbgrader"] = {"grade_id": f"{CHAPTER_00.stem}-solution-{exercise.index}"}
    assert exercise_cell(nb, exercise) == cell.source
    del cell.metadata["nbgrader"]
    assert exercise_cell(nb, exercise) == cell.source                       # the cell that defines it
    cell.source = "pass"
    assert exercise_cell(nb, exercise) is None


def test_per_student_seeds_come_from_the_instructors_key(tmp_path):
    key_file = tmp_path / "grading.key"
    key, said = load_key(key_file)
    assert len(key) == 32 and "new key" in said and (key_file.stat().st_mode & 0o777) == 0o600
    assert load_key(key_file)[0] == key                                    # kept for regrading
    assert seed_for(key, "alice", "mask_update") != seed_for(key, "bob", "mask_update")
    assert seed_for(key, "alice", "mask_update") != seed_for(key, "alice", "merkle_root")
    assert seed_for(key, "alice", "mask_update") != seed_for(os.urandom(32), "alice", "mask_update")
    assert load_key(key_file, seed="7")[0] == load_key(None, seed=7)[0] != key
    (tmp_path / "short.key").write_bytes(b"x")
    with pytest.raises(ValueError, match="at least 16"):
        load_key(tmp_path / "short.key")


def test_help_says_what_each_status_means(capsys):
    with pytest.raises(SystemExit):
        grade.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for status, meaning in (("passed", "the course's check passed"), ("failed", "timed out"),
                            ("not yet solved", "NotImplementedError"), ("refused", "the course's own answer"),
                            ("missing", "no exercise cell"), ("not run", "could not run")):
        assert f"{status} — {meaning}" in text or (status in text and meaning in text), status
    assert "--key-file" in text and "--timeout" in text and "container" in text


def _wrong_answer(nb):
    for cell in nb.cells:
        if "def seconds_to_process" in cell.source:
            cell.source = cell.source.replace("return nbytes / (mb_per_s * 1e6)", "return nbytes / mb_per_s")
            return nb
    raise AssertionError("chapter 00 changed: update this test")


def test_the_grader_writes_a_student_by_exercise_table_reproducibly(tmp_path):
    submissions = tmp_path / "submitted"
    for name in ("alice", "bob", "carol", "dave"):
        (submissions / name).mkdir(parents=True)
    shutil.copy(CHAPTER_00, submissions / "alice" / CHAPTER_00.name)                  # solved
    student.build([CHAPTER_00], submissions / "bob")                                 # unsolved
    nbformat.write(_wrong_answer(nbformat.read(CHAPTER_00, as_version=4)), submissions / "carol" / CHAPTER_00.name)
    (submissions / "dave" / CHAPTER_00.name).write_text("{ not a notebook")
    shutil.copy(NOTEBOOKS[1], submissions / "alice" / NOTEBOOKS[1].name)             # only alice did chapter 01
    out, key_file = tmp_path / "grades.csv", tmp_path / "grading.key"
    assert grade.main([str(submissions), "--out", str(out), "--key-file", str(key_file)]) == 0
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    names = [e.name for e in course_exercises() if e.chapter in ("00", "01")]
    assert list(rows["alice"]) == ["student", *names, "passed"]
    assert rows["alice"] == {"student": "alice", **dict.fromkeys(names, "passed"), "passed": str(len(names))}
    assert rows["bob"]["seconds_to_process"] == rows["bob"]["tool_for_threat"] == "not yet solved"
    assert rows["bob"]["ctr_encrypt"] == "missing"                                  # no chapter 01 from bob
    assert rows["carol"]["seconds_to_process"] == "failed" and rows["carol"]["tool_for_threat"] == "passed"
    assert rows["dave"]["seconds_to_process"] == "not run"
    with open(tmp_path / "grades.details.csv", encoding="utf-8") as f:
        details = {(r["student"], r["exercise"]): r for r in csv.DictReader(f)}
    assert "should be" in details["carol", "seconds_to_process"]["detail"]
    first = out.read_text()
    grade.main([str(submissions), "--out", str(out), "--key-file", str(key_file)])
    assert out.read_text() == first


@pytest.mark.skipif(shutil.which("nbgrader", path=str(Path(sys.executable).parent)) is None,
                    reason="nbgrader is not installed")
def test_nbgrader_generates_every_assignment_without_solutions(tmp_path):
    written = student.write_nbgrader_sources(NOTEBOOKS, tmp_path)
    code = ("import sys; from nbgrader.apps import NbGraderAPI; from traitlets.config import Config; "
            "c = Config(); c.CourseDirectory.root = sys.argv[1]; api = NbGraderAPI(config=c); "
            "bad = [a for a in sys.argv[2:] if not api.generate_assignment(a)['success']]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), *(s.parent.name for s in written)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for source in written:
        release = nbformat.read(tmp_path / "release" / source.parent.name / source.name, as_version=4)
        text = "\n".join(c.source for c in release.cells)
        assert student.BEGIN not in text and "raise NotImplementedError()" in text
        graded = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded and all(c.source.endswith(".raise_if_failed()") for c in graded)
        assert all("raises-exception" in c.metadata.get("tags", []) for c in graded)
        instructor = nbformat.read(next(p for p in NOTEBOOKS if p.stem == source.parent.name), as_version=4)
        assert [c.get("id") for c in release.cells] == [c.get("id") for c in instructor.cells]    # ids kept
