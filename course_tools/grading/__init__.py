"""The course grader's parts (``python -m course_tools.grade`` is the command; ``docs/grading.md``).

* ``exercises`` — what to grade: each exercise's cell, functions and chapter imports, read from the
  instructor notebooks, and the learner's exercise cell found in a submission;
* ``answers`` — what counts as the course's own answer to an exercise (refused);
* ``screen`` — the static screen of an exercise cell: what a solution may not do;
* ``worker`` — the grading worker: per exercise, a fresh child that runs the learner's cell and a
  judge that runs the check, both forked from a pristine copy of ``course_lib``, with limits;
* ``rpc`` — the pipe between them: the judge calls the learner's functions, the answers come back
  as plain data only;
* ``pool`` — the grader's side of the workers;
* ``seeds`` — the instructor's secret and the per-student seeds derived from it;
* ``nbgrader`` — the preprocessor that makes ``nbgrader autograde`` score with this grader;
* ``benchmark`` — ``python -m course_tools.grading.benchmark``: the time to grade a class.
"""
