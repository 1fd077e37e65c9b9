"""Slide decks for projecting a chapter: ``python -m course_tools.slides [annotate|build] ...`` (all chapters).

``python -m course_tools.slides [annotate] [NOTEBOOK ...]`` sets each cell's ``slideshow`` metadata by
one rule, so that a reveal.js deck shows what is worth projecting: the title and every ``##`` section
start a slide, every ``###`` a sub-slide, callouts appear as fragments; the set-up cell, exercise
solutions, checks and the term list are skipped (so a projected deck never shows a solution). Run it
after adding cells; a test checks it was run.

``python -m course_tools.slides build [--out slides/] [NOTEBOOK ...]`` writes decks that work with no
network: reveal.js and MathJax are served from a folder next to them (``course_tools.slide_deck``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from course_lib.environment import REPO_ROOT

from .executor import write_notebook
from .student import BEGIN as BEGIN_SOLUTION


__all__ = ["slide_type", "annotate", "main"]

PROG = "python -m course_tools.slides"


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


class _Parser(argparse.ArgumentParser):
    def error(self, message):            # one readable line, no usage block, no traceback
        self.exit(2, f"{self.prog}: error: {message} (see {PROG} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.split(":", 1)[0] + ".",
                     epilog="Without a command: annotate.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="{annotate,build}")
    annotate_ = commands.add_parser("annotate", help="set the slideshow metadata of the notebooks (the default)")
    annotate_.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    build_ = commands.add_parser("build", help="write offline reveal.js decks (scripts copied next to them)")
    build_.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    build_.add_argument("--out", type=Path, default=REPO_ROOT / "slides", help="output folder (default: slides/)")
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("annotate", "build", "-h", "--help"):
        argv = ["annotate", *argv]
    parser = _parser()
    args = parser.parse_args(argv)
    from .slide_deck import DeckError, build
    try:
        if args.command == "build":
            for path in build(args.notebooks, args.out):
                print(f"wrote {path}")
            return 0
        for path in args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
            if not path.is_file():
                raise DeckError(f"no such notebook: {path}")
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as error:   # not JSON, not a notebook: say which file
                raise DeckError(f"{path} is not a notebook ({type(error).__name__})") from None
            if annotate(nb):
                write_notebook(nb, path)
                print(f"updated {path.name}")
    except DeckError as error:
        parser.exit(2, f"{PROG}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
