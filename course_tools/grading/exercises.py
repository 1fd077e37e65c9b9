"""What the grader grades, read from the instructor notebooks, and where a submission answers it.

An exercise is a check cell ``cl.check.<name>(fn, ...)`` of an instructor notebook; its exercise
cell is the code cell above it holding ``### BEGIN SOLUTION`` and defining ``fn, ...``. The grader
runs only that cell of a submission, after the chapter's *preamble*: the imports and constant
assignments (``MOD = 2**64``) of the instructor notebook's earlier cells, which the exercise's
statement lets the cell use. A submission's exercise cell is found by its cell id (kept by
``python -m course_tools.student`` and by nbgrader), or else as the last code cell that defines
the exercise's functions.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib.environment import REPO_ROOT

__all__ = ["Exercise", "course_exercises", "exercises_of", "chapter_of", "exercise_cell", "NOTEBOOKS"]

NOTEBOOKS = REPO_ROOT / "notebooks"
BEGIN = "### BEGIN SOLUTION"
_CHECK_CELL = re.compile(r"^cl\.check\.(\w+)\(([\w\s,]*)\)$")


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of one chapter."""

    name: str                   # the check: cl.check.<name>
    notebook: str               # the instructor notebook's file name
    cell_id: str                # the exercise cell's id
    index: int                  # its position in the instructor notebook
    functions: tuple[str, ...]  # what the check is called with, in order
    preamble: str               # the chapter's imports and constants before the cell
    solution: str = ""          # the instructor's exercise cell (the grader warms its workers with it)

    @property
    def chapter(self) -> str:
        return self.notebook[:2]


def _parse(source: str):
    """The AST of a cell, without IPython magics and shell lines; None if it does not parse."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _constant(node) -> bool:
    """True for an expression of literals only (``2**64``, ``(1, 2)``, ``{"F32": 4}``)."""
    return all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List, ast.Dict, ast.Set,
                              ast.operator, ast.unaryop, ast.Load)) for n in ast.walk(node))


def _preamble_lines(cell_source: str) -> list[str]:
    tree = _parse(cell_source)
    if tree is None:
        return []
    lines = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            lines.append(ast.unparse(node))
        elif (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
              and _constant(node.value)):
            lines.append(ast.unparse(node))
    return lines


def _defines(source: str, names) -> bool:
    """True if ``source`` binds every name in ``names`` at its top level."""
    tree = _parse(source)
    if tree is None:
        return False
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                bound |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return set(names) <= bound


def exercises_of(nb, notebook: str) -> list[Exercise]:
    """The exercises of one instructor notebook, in order."""
    found, preamble = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        match = _CHECK_CELL.match(cell.source.strip())
        if match:
            functions = tuple(a.strip() for a in match.group(2).split(",") if a.strip())
            for j in range(index - 1, -1, -1):
                above = nb.cells[j]
                if above.cell_type == "code" and BEGIN in above.source and _defines(above.source, functions):
                    lines = [line for k in range(j) if nb.cells[k].cell_type == "code"
                             for line in _preamble_lines(nb.cells[k].source)]
                    found.append(Exercise(match.group(1), notebook, above.get("id", ""), j, functions,
                                          "\n".join(dict.fromkeys(lines)), above.source))
                    break
    return found


@functools.lru_cache(maxsize=4)
def _course(folder: str) -> tuple[Exercise, ...]:
    exercises = []
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        exercises += exercises_of(nbformat.read(path, as_version=4), path.name)
    return tuple(exercises)


def course_exercises(folder: Path | None = None) -> tuple[Exercise, ...]:
    """Every exercise of the course, in chapter order (from ``notebooks/`` unless ``folder``)."""
    return _course(str(Path(folder or NOTEBOOKS).resolve()))


def chapter_of(path: Path, nb, exercises) -> str | None:
    """The instructor notebook a submission answers: by file name, else by shared exercise cell ids."""
    names = {e.notebook for e in exercises}
    name = Path(path).name
    if name in names:
        return name
    for candidate in sorted(names):
        if name.startswith(candidate[:3]) and Path(candidate).stem in Path(name).stem:
            return candidate          # e.g. a renamed copy: 00_welcome_threat_model-Copy1.ipynb
    ids = {cell.get("id") for cell in nb.cells}
    hits = {e.notebook for e in exercises if e.cell_id and e.cell_id in ids}
    return hits.pop() if len(hits) == 1 else None


def exercise_cell(nb, exercise: Exercise) -> str | None:
    """The source of a submission's cell for ``exercise``, or None if it has none."""
    for cell in nb.cells:
        if cell.cell_type == "code" and exercise.cell_id and cell.get("id") == exercise.cell_id:
            return cell.source
    grade_id = f"{Path(exercise.notebook).stem}-solution-{exercise.index}"     # nbgrader's metadata
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell.source
    for cell in reversed(nb.cells):
        if cell.cell_type == "code" and "cl.check." not in cell.source and _defines(cell.source, exercise.functions):
            return cell.source
    return None
