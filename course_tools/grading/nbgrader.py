"""nbgrader scores with the course grader: the ``CourseGrade`` preprocessor for ``nbgrader autograde``.

``nbgrader autograde`` normally scores a test cell by executing the notebook in the student's kernel:
any earlier cell can then patch what the test calls (``CheckResult.raise_if_failed``) or hand it the
library's answer (``or_reference``). In the course's configuration (written by ``python -m
course_tools.student --nbgrader COURSE_DIR`` as ``COURSE_DIR/nbgrader_config.py``) autograde runs
this preprocessor instead of executing the notebook: it grades the submission with
:mod:`course_tools.grade` — each exercise cell alone, in the grader's own process, with the seed of
this student — and writes the verdict as each test cell's output, an error unless ``passed``.
nbgrader's ``SaveAutoGrades`` then scores exactly what the course grader's CSV says. Locked test
cells are still restored by nbgrader's checksum (``OverwriteCells``) before this runs.

``autograde_preprocessors(execute=True)`` keeps nbgrader's ``Execute`` before it, for instructors
who want the executed outputs in the feedback; the grades stay the course grader's.
"""
from __future__ import annotations

import atexit
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Float, Integer, Unicode

__all__ = ["CourseGrade", "autograde_preprocessors", "CONFIG"]

CONFIG = '''\
# nbgrader configuration written by `python -m course_tools.student --nbgrader`.
# Grades come from the course grader (course_tools.grade), not from the student's kernel:
# see docs/grading.md in the course.
from course_tools.grading.nbgrader import autograde_preprocessors

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "cryptography-for-deep-learning"
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.CourseGrade.key_file = {key!r}     # the secret the hidden seeds derive from: keep it out of students' reach
'''

_POOLS = {}


def _pool():
    """One set of workers per nbgrader process, shared by every notebook it autogrades."""
    if "pool" not in _POOLS:
        from course_tools.grade import worker_init
        from course_tools.grading.exercises import course_exercises
        from course_tools.grading.pool import Pool
        _POOLS["pool"] = Pool(worker_init(course_exercises()))
        atexit.register(_POOLS["pool"].close)
    return _POOLS["pool"]


class CourseGrade(Preprocessor):
    """Write the course grader's verdict into every graded test cell (``grade_id`` ``<notebook>-<exercise>``)."""

    enabled = Bool(True)
    key_file = Unicode("grading.key", help="The grading key (created if missing), relative to the course "
                                           "directory unless absolute.").tag(config=True)
    timeout = Float(120, help="Seconds allowed per exercise.").tag(config=True)
    memory_mb = Integer(2048, help="MB of memory allowed per exercise.").tag(config=True)

    def preprocess(self, nb, resources):
        from course_tools.grade import grade_notebooks
        from course_tools.grading.seeds import load_key
        info = resources.get("nbgrader", {})
        student, notebook = info.get("student", ""), f"{info.get('notebook', 'notebook')}.ipynb"
        key_path, owner = Path(self.key_file), self.parent
        while owner is not None and getattr(owner, "coursedir", None) is None:
            owner = getattr(owner, "parent", None)
        if not key_path.is_absolute() and owner is not None:
            key_path = Path(owner.coursedir.root) / key_path
        key, _ = load_key(key_path)
        copy = nbformat.from_dict(nb)
        outcomes = grade_notebooks([(student, copy, notebook)], key, pool=_pool(), timeout=self.timeout,
                                   memory_mb=self.memory_mb).get(student, {})
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade") or "-" not in grade_id:
                continue
            exercise = grade_id.rsplit("-", 1)[1]
            outcome = outcomes.get(exercise, {"status": "missing", "detail": "the course grader found no exercise "
                                                                             "cell for this test"})
            text = f"course_tools.grade: {outcome['status']} — {outcome.get('detail', '')}"
            if outcome["status"] == "passed":
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]
            else:
                cell.outputs = [nbformat.v4.new_output("error", ename="ExerciseNotPassed",
                                                       evalue=f"{outcome['status']}: {outcome.get('detail', '')}",
                                                       traceback=[text])]
        return nb, resources


def autograde_preprocessors(execute: bool = False) -> list:
    """nbgrader's autograde preprocessors with the course grader deciding the test cells' outputs."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    return [*([Execute] if execute else []), CourseGrade, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
            SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
