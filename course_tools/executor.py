"""The course's notebook executor: ``python -m course_tools.executor [NOTEBOOK ...]``.

Runs each notebook top to bottom in a fresh kernel (the current Python environment), stores
the outputs, strips widget state and volatile metadata, replaces this checkout's absolute
path with ``<course>`` in outputs, tags cells marked ``# NBVAL_RAISES_EXCEPTION`` with
``raises-exception`` (so "Run All" in JupyterLab continues past those demonstrations), and
writes the notebook back atomically. It refuses to
store a notebook in which a cell raised an error that the cell did not announce with
``# NBVAL_RAISES_EXCEPTION`` (or announced one that did not happen). With no arguments it
executes every ``notebooks/*.ipynb``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_lib.environment import REPO_ROOT
from course_lib.files import write_atomic


__all__ = ["RAISES_MARK", "SKIP_MARK", "NotebookExecutionError", "clean", "run", "write_notebook",
           "execute_notebook", "main"]

RAISES_MARK = "NBVAL_RAISES_EXCEPTION"
SKIP_MARK = "NBVAL_SKIP"


class NotebookExecutionError(RuntimeError):
    """A notebook raised where it should not (or did not raise where it should)."""


def _problems(nb) -> list[str]:
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or SKIP_MARK in cell.source:
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        expects = RAISES_MARK in cell.source
        if errors and not expects:
            e = errors[0]
            problems.append(f"cell {index} raised {e.get('ename')}: {e.get('evalue')}\n---\n{cell.source}")
        if expects and not errors:
            problems.append(f"cell {index} is marked {RAISES_MARK} but raised nothing\n---\n{cell.source}")
    return problems


def _scrub(node, root: str):
    """Replace this checkout's absolute path in every output string."""
    if isinstance(node, str):
        return node.replace(root, "<course>")
    if isinstance(node, list):
        return [_scrub(x, root) for x in node]
    if isinstance(node, dict):
        return type(node)((k, _scrub(v, root)) for k, v in node.items())
    return node


def clean(nb) -> None:
    """Strip widget state and per-run metadata so diffs show only real changes."""
    nb.metadata.pop("widgets", None)
    root = str(REPO_ROOT)
    for cell in nb.cells:
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(_scrub(o, root)) for o in cell.outputs]


def run(nb, workdir, timeout: int = 600):
    """Execute ``nb`` in place, top to bottom, in a fresh kernel whose working directory is ``workdir``.

    Every cell runs even after an error (the caller decides which errors are acceptable).
    """
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}},
                   store_widget_state=False, record_timing=False).execute()
    return nb


def write_notebook(nb, path) -> None:
    """Write a notebook all or nothing, as ``nbformat.write`` formats it."""
    text = nbformat.writes(nb)
    write_atomic(path, (text if text.endswith("\n") else text + "\n").encode("utf-8"))


def execute_notebook(path: str | os.PathLike, timeout: int = 600) -> float:
    """Execute ``path`` in a fresh kernel and store it with outputs; returns seconds taken.

    Raises :class:`NotebookExecutionError` (and leaves the file untouched) on an unexpected error.
    """
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # the tag lets the cell raise without stopping "Run All" (nbclient, JupyterLab)
        if cell.cell_type == "code" and RAISES_MARK in cell.source:
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
    start = time.perf_counter()
    run(nb, path.parent, timeout)
    seconds = time.perf_counter() - start
    problems = _problems(nb)
    if problems:
        raise NotebookExecutionError(f"{path.name}: not stored, it has unexpected errors:\n" + "\n\n".join(problems))
    clean(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    write_notebook(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to execute (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(str(p) for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    failed = 0
    for p in paths:
        try:
            seconds = execute_notebook(p, timeout=args.timeout)
            print(f"executed {Path(p).name} in {seconds:.1f} s")
        except NotebookExecutionError as error:
            failed += 1
            print(error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
