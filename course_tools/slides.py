"""Slide decks for projecting a chapter: ``python -m course_tools.slides [NOTEBOOK ...]`` (all chapters).

Sets each cell's ``slideshow`` metadata by one rule, so that ``jupyter nbconvert --to slides
notebooks/02_hashing_and_integrity.ipynb`` makes a reveal.js deck of what is worth projecting:
the title and every ``##`` section start a slide, every ``###`` a sub-slide, callouts appear as
fragments; the set-up cell, exercise solutions, checks and the term list are skipped (so a
projected deck never shows a solution). Run it after adding cells; a test checks it was run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from course_lib.environment import REPO_ROOT

from .executor import write_notebook
from .student import BEGIN as BEGIN_SOLUTION


__all__ = ["slide_type", "annotate", "main"]


def slide_type(cell, index: int, first_code: int) -> str:
    """The slideshow role of one cell (see the module docstring)."""
    source = cell.source.lstrip()
    if cell.cell_type == "markdown":
        if index == 0 or source.startswith("## "):
            return "slide"
        if source.startswith("### "):
            return "subslide"
        if source.startswith("**Terms in this chapter**"):
            return "skip"
        if source.startswith("> "):
            return "fragment"
        return "-"
    if index == first_code or BEGIN_SOLUTION in cell.source or "cl.check." in cell.source:
        return "skip"
    return "-"


def annotate(nb) -> bool:
    """Set every cell's slide type; returns True if anything changed."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    first_code = code[0] if code else -1
    changed = False
    for index, cell in enumerate(nb.cells):
        wanted = {"slide_type": slide_type(cell, index, first_code)}
        if cell.metadata.get("slideshow") != wanted:
            cell.metadata["slideshow"] = wanted
            changed = True
    return changed


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or \
        sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if annotate(nb):
            write_notebook(nb, path)
            print(f"updated {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
