"""course_tools — the machinery that builds, runs, grades and measures the course.

Not for learners' notebooks (they import only ``course_lib``). Every tool is a command:

* ``python -m course_tools.lab`` — open the course in JupyterLab (learner or instructor view);
* ``python -m course_tools.doctor`` — preflight check of a laptop before a workshop;
* ``python -m course_tools.executor`` — execute notebooks and store their outputs;
* ``python -m course_tools.student`` — build student versions (or an nbgrader source tree);
* ``python -m course_tools.grade`` — grade collected student notebooks (``course_tools.grading.benchmark``: time a class);
* ``python -m course_tools.slides`` — slide metadata for projecting a chapter, and ``build``: offline reveal.js decks (``course_tools.slide_deck``);
* ``python -m course_tools.bench`` — benchmarks, as ratios against a baseline in the same run
  (``crypten_baseline.py`` is run by a separate interpreter that has CrypTen).
"""
