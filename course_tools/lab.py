"""Open the course in JupyterLab: ``python -m course_tools.lab [--instructor] [--lang zh] [-- JUPYTER-ARGS]``.

Learners land on the student versions (``student/``): any that are missing are built first,
and existing ones — a learner's work — are never touched. ``--instructor`` opens
``notebooks/`` instead, with the solutions. ``--lang zh`` opens the Chinese student versions in
``student/zh/`` (built from the English ones and ``locale/zh/``, ``course_tools.translate``; the
same rule: existing ones are kept), and its kernels run with ``COURSE_LANG=zh``, so checks,
hints and quizzes speak Chinese too. The glossary is copied into the folder opened
(``GLOSSARY.md``, or ``GLOSSARY.zh.md`` for ``--lang zh``) and the new notebooks' links lead
to it. Anything after ``--`` goes to ``jupyter lab`` (for example ``-- --no-browser --port 8899``).
"""
from __future__ import annotations

import argparse
import os
import sys

import nbformat

from course_lib.environment import REPO_ROOT

from . import student, translate


__all__ = ["command", "main"]


def _options(argv):
    """(our parsed options, the arguments after ``--`` for jupyter lab)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    ours = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m course_tools.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--instructor", action="store_true",
                        help="open notebooks/ (with the solutions) instead of the student versions")
    parser.add_argument("--lang", default="en", choices=["en", "zh"],
                        help="zh: the Chinese student versions in student/zh/, with checks and quizzes in Chinese")
    return parser.parse_args(ours), extra


def command(argv=None) -> list[str]:
    """The ``jupyter lab`` command line to run, after building any missing student notebooks."""
    args, extra = _options(argv)
    if args.instructor:
        folder = REPO_ROOT / "notebooks"
    elif args.lang != "en":
        folder = REPO_ROOT / "student" / args.lang
        written, kept = translate.build(args.lang, out=folder)
        glossary = student.copy_glossary(folder, args.lang, REPO_ROOT)
        for path in written:                 # just built here: no learner's work in them yet
            nb = nbformat.read(path, as_version=4)
            if glossary and student.glossary_links(nb, glossary.name):
                nbformat.write(nb, path)
        if written:
            print(f"built {len(written)} {args.lang} student notebook(s) in {folder}")
        if kept:
            print(f"kept {len(kept)} existing {args.lang} student notebook(s): your work is untouched")
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
    lang = _options(argv)[0].lang
    if lang != "en":
        os.environ["COURSE_LANG"] = lang     # inherited by JupyterLab and every kernel it starts
    os.execv(line[0], line)   # replaces this process: Ctrl-C stops JupyterLab as usual
    return 0


if __name__ == "__main__":
    sys.exit(main())
