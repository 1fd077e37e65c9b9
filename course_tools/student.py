"""Student versions of the notebooks: ``python -m course_tools.student [--out DIR] [NOTEBOOK ...]``.

In each code cell, every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is
replaced by ``raise NotImplementedError(...)`` carrying the exercise's title, at the same
indentation. The outputs of exercise cells and of every cell that mentions ``cl.check`` (the
checks, and the cells that use a learner's function through ``or_reference``) are cleared, so
the student notebook shows no solution, nothing computed from one, and no stale "passed". Everything else
(explanations, demos, their outputs) is kept. The default output folder is ``student/``.

The glossary comes along: links to ``../GLOSSARY.md`` point at a copy beside the notebooks
(:func:`glossary_links`, :func:`copy_glossary`), so they open in JupyterLab, whose root is the student folder.

A student notebook that already exists is **never overwritten** — it may hold a learner's work —
unless ``--force`` is given; the command says which ones it skipped.

``--nbgrader COURSE_DIR`` writes the instructor notebooks instead, with nbgrader's cell metadata,
as ``COURSE_DIR/source/<chapter>/<chapter>.ipynb``: solution cells are marked as such, and every
check becomes a graded test cell that raises when the exercise does not pass (tagged
``raises-exception``, so *Run All* still continues). ``nbgrader generate_assignment <chapter>``
then makes the release version. It also writes ``COURSE_DIR/nbgrader_config.py`` (unless one
exists) so that ``nbgrader autograde`` scores with the course grader, not in the student's kernel
(``course_tools.grading.nbgrader``).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from course_lib.environment import REPO_ROOT


__all__ = ["BEGIN", "END", "strip_solutions", "student_notebook", "nbgrader_source", "write_nbgrader_sources",
           "write_nbgrader_config", "glossary_links", "copy_glossary", "build", "build_report", "main"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
                     re.MULTILINE | re.DOTALL)


def _exercise_title(cells, index: int) -> str:
    """The heading of the nearest markdown cell above ``index`` (e.g. 'Exercise 2 — …')."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip("#").strip().lower().startswith("exercise"):
                    return line.lstrip("#").strip()
            return "Exercise"
    return "Exercise"


def strip_solutions(source: str, title: str) -> str:
    """Replace every solution region of ``source`` by a stub raising ``NotImplementedError``."""
    message = f"{title}: write your solution here (see the instructions above)"
    return _REGION.sub(lambda m: f"{m.group(1)}raise NotImplementedError({message!r})\n", source)


def _clear(cell) -> None:
    cell.outputs = []
    cell.execution_count = None


def student_notebook(nb):
    """A copy of ``nb`` with solutions stubbed out and exercise outputs cleared."""
    nb = nbformat.from_dict(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if BEGIN in cell.source:
            cell.source = strip_solutions(cell.source, _exercise_title(nb.cells, index))
            _clear(cell)
        elif "cl.check." in cell.source:   # a check, or a cell using a learner's function: computed with the solution
            _clear(cell)
    return nb


_GLOSSARY_LINK = re.compile(r"\]\((?:\.\./)+GLOSSARY\.md(#[^)\s]*)?\)")


def glossary_links(nb, glossary: str = "GLOSSARY.md") -> bool:
    """Point ``nb``'s markdown links to the repository's glossary (``../GLOSSARY.md``, at any depth) at the file
    ``glossary`` in the notebook's own folder (anchors kept); returns True if a link changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            source = _GLOSSARY_LINK.sub(lambda m: f"]({glossary}{m.group(1) or ''})", cell.source)
            changed |= source != cell.source
            cell.source = source
    return changed


def copy_glossary(out: Path, lang: str = "en", root: Path | None = None) -> Path | None:
    """Copy the glossary (``GLOSSARY.md``, or ``GLOSSARY.<lang>.md``) into ``out``, refreshing an old copy;
    returns the copy, or None where the repository has none."""
    name = "GLOSSARY.md" if lang == "en" else f"GLOSSARY.{lang}.md"
    source = Path(root or REPO_ROOT) / name
    if not source.is_file():
        return None
    target = Path(out) / name
    text = source.read_text(encoding="utf-8")
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


_CHECK_LINE = re.compile(r"^cl\.check\.(\w+)\(.*\)$")


def nbgrader_source(nb, assignment: str):
    """A copy of the instructor notebook ``nb`` with nbgrader metadata on solution and check cells."""
    nb = nbformat.from_dict(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = cell.source.rstrip().splitlines()
        check = _CHECK_LINE.match(lines[-1]) if lines else None
        if BEGIN in cell.source:
            cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": f"{assignment}-solution-{index}",
                                         "solution": True, "grade": False, "locked": False, "task": False}
        elif check and len(lines) == 1:
            cell.source = f"{lines[0]}.raise_if_failed()"
            cell.metadata["nbgrader"] = {"schema_version": 3, "grade_id": f"{assignment}-{check.group(1)}",
                                         "solution": False, "grade": True, "locked": True, "task": False,
                                         "points": 1}
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
        else:
            continue
        _clear(cell)
    return nb


def write_nbgrader_sources(paths, course_dir: Path) -> list[Path]:
    """``course_dir/source/<stem>/<stem>.ipynb`` for every notebook in ``paths``; returns them."""
    written = []
    for path in map(Path, paths):
        target = Path(course_dir) / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbgrader_source(nbformat.read(path, as_version=4), path.stem), target)
        written.append(target)
    return written


def write_nbgrader_config(course_dir: Path) -> Path | None:
    """``course_dir/nbgrader_config.py`` that makes autograde score with the course grader; None if one exists."""
    from course_tools.grading.nbgrader import CONFIG
    course_dir = Path(course_dir).resolve()
    target = course_dir / "nbgrader_config.py"
    if target.exists():
        return None
    course_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(CONFIG.format(root=str(course_dir), key=str(course_dir / "grading.key")), encoding="utf-8")
    return target


def build(paths=None, out: Path | None = None, *, force: bool = False) -> list[Path]:
    """Write student versions of ``paths`` (default: all notebooks) into ``out``; returns the files written.

    Existing files are kept (a learner's work) unless ``force`` is true; see :func:`build_report`.
    """
    return build_report(paths, out, force=force)[0]


def build_report(paths=None, out: Path | None = None, *, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Like :func:`build`, returning ``(written, skipped because they already exist)``."""
    out = Path(out or REPO_ROOT / "student")
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for path in paths or sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        path = Path(path)
        target = out / path.name
        if target.exists() and not force:
            skipped.append(target)
            continue
        nb = student_notebook(nbformat.read(path, as_version=4))
        glossary_links(nb)
        nbformat.write(nb, target)
        written.append(target)
    copy_glossary(out)
    return written, skipped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="instructor notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: student/)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite student notebooks that already exist (their edits are lost)")
    parser.add_argument("--nbgrader", type=Path, metavar="COURSE_DIR",
                        help="write nbgrader source notebooks into COURSE_DIR/source/ instead")
    args = parser.parse_args(argv)
    if args.nbgrader:
        paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
        for path in write_nbgrader_sources(paths, args.nbgrader):
            print(f"wrote {path}")
        config = write_nbgrader_config(args.nbgrader)
        if config:
            print(f"wrote {config}: autograde scores with the course grader")
        else:
            print(f"kept {Path(args.nbgrader) / 'nbgrader_config.py'}: to score with the course grader, it needs "
                  f"c.Autograde.autograde_preprocessors = autograde_preprocessors() from course_tools.grading.nbgrader")
        return 0
    written, skipped = build_report(args.notebooks or None, args.out, force=args.force)
    for path in written:
        print(f"wrote {path}")
    for path in skipped:
        print(f"kept {path}: it exists and may hold your work (--force overwrites it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
