"""The library's shape: one-way layers, small public surfaces, tools kept apart from what learners import."""
import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

import course_lib

ROOT = Path(course_lib.__file__).parent


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(name, path):
    """(target module, at module level?) for every import of a course_lib module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = dict(_modules())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                target = target if target in known else base
                if target in known and target != name and not name.startswith(target + "."):
                    yield target, id(node) in top, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, id(node) in top, alias.name


GRAPH = {name: sorted({t for t, _, _ in _imports(name, path)}) for name, path in _modules()}


def test_no_import_cycles():
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in GRAPH.get(node, ()):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in GRAPH:
        if node not in state:
            visit(node)
    assert not cycles, cycles


def test_no_module_imports_a_course_module_inside_a_function():
    inner = [(name, target) for name, path in _modules() for target, at_top, _ in _imports(name, path) if not at_top]
    assert not inner, inner


def test_no_module_imports_another_modules_private_names():
    private = [(name, target, imported) for name, path in _modules() for target, _, imported in _imports(name, path)
               if imported.startswith("_") and not target.endswith("._framework")]
    assert not private, private


def test_mpc_comparison_sits_below_the_shared_tensor():
    assert "course_lib.mpc.compare" in GRAPH["course_lib.mpc.tensor"]
    assert "course_lib.mpc.tensor" not in GRAPH["course_lib.mpc.compare"]
    assert GRAPH["course_lib.mpc.bits"] == []          # a leaf: everything may use it


@pytest.mark.parametrize("name", [n for n, p in _modules() if not p.stem.startswith("_")])
def test_every_public_module_declares_its_names_and_they_exist(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, missing


def test_learners_namespace_offers_teaching_modules_only():
    offered = set(course_lib.__all__)
    for tool in ("executor", "student", "grade", "bench", "lab", "doctor", "slides"):
        assert tool not in offered
        assert not (ROOT / f"{tool}.py").exists()
        assert importlib.util.find_spec(f"course_tools.{tool}") is not None
    assert {"symmetric", "hashing", "pubkey", "datasets", "models", "digits", "mpc", "toy", "widgets"} <= offered


def test_widgets_load_their_part_of_the_course_on_first_use():
    widgets = importlib.import_module("course_lib.widgets")
    assert widgets.Avalanche.__module__ == "course_lib.widgets.hashing"
    assert widgets.ShareViewer.__module__ == "course_lib.widgets.mpc"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        widgets.Nope
