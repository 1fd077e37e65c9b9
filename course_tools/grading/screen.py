"""The static screen: what an exercise cell may not do, decided from its source before it runs.

A cell that does any of the following is ``refused`` with the reason, and never run:

* reach ``course_lib.check`` (``cl.check``, ``import course_lib.check``, its names such as
  ``or_reference``, ``Tally`` or ``REGISTRY``): the checks belong to the grader;
* use the course's own answer to the exercise (:mod:`course_tools.grading.answers`);
* change a library: assign to, delete or mutate anything reached from an imported name
  (``cl.check._framework.Tally.true = ...``, ``secagg.add_pairwise_masks = ...``,
  ``he.MAX_MODULUS_BITS.update(...)``), or call ``setattr``/``delattr``;
* reach Python's machinery: ``exec``, ``eval``, ``compile``, ``__import__``, ``open``, ``globals``,
  ``vars``, ``getattr`` with a computed name or as a value (``g = getattr``), ``string.Formatter``, ``__dict__``/``__globals__``/``__class__`` and the
  like, frames and tracebacks (``f_back``, ``tb_frame``), private attributes of what it did not
  define (``x._secret``), ``sys.modules`` or ``builtins`` (``sys`` and ``builtins`` are not allowed);
* import a module outside the allowed list (the standard library's arithmetic, hashing and data
  modules; numpy, torch, scipy, scikit-learn, cryptography, tenseal, matplotlib, ``course_lib``
  without ``check``), or
  deserialise with code execution on (``weights_only=False``, ``allow_pickle=True``).

The screen is a first line: the worker also refuses, at run time, answers that are (or wrap) a
library answer or a check object, calls into them while the learner's code runs, and any change
of ``course_lib`` it finds after the check (:mod:`course_tools.grading.worker`).
"""
from __future__ import annotations

import ast
import re

__all__ = ["screen", "module_refusal", "ALLOWED_MODULES", "BLOCKED_BUILTINS", "CHECK_NAMES"]

ALLOWED_MODULES = frozenset({
    "abc", "array", "base64", "binascii", "bisect", "cmath", "collections", "contextlib", "copy",
    "dataclasses", "decimal", "enum", "fractions", "functools", "hashlib", "heapq", "hmac", "io",
    "itertools", "json", "math", "numbers", "operator", "os", "random", "re", "secrets", "statistics",
    "string", "struct", "time", "typing", "warnings", "zlib",
    "numpy", "torch", "scipy", "sklearn", "cryptography", "tenseal", "matplotlib", "course_lib"})
DENIED_MODULES = ("course_lib.check", "torch.jit", "torch.package", "torch.hub", "torch.utils.cpp_extension",
                  "torch.multiprocessing", "torch.distributed", "torch.library", "torch.ops", "numpy.ctypeslib",
                  "numpy.f2py", "cryptography.hazmat.bindings")
# attributes of these modules a cell may use; everything else of them is refused
ONLY_ATTRIBUTES = {"os": {"urandom", "path", "sep", "linesep"}, "io": {"BytesIO", "StringIO"}}
DENIED_ATTRIBUTES = {"operator": {"attrgetter", "methodcaller"}, "string": {"Formatter"}, "typing": {"get_type_hints"},
                     "torch.serialization": {"add_safe_globals", "safe_globals"},
                     "torch": {"load_library"}}
BLOCKED_BUILTINS = frozenset({"open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
                              "setattr", "delattr", "breakpoint", "input", "help", "exit", "quit", "__build_class__",
                              "__builtins__", "__loader__", "__spec__"})
CHECK_NAMES = frozenset({"or_reference", "REGISTRY", "Tally", "CheckResult", "ExerciseFailed", "Mismatch",
                         "_framework", "checker", "raise_if_failed"})
_DUNDERS = frozenset({"__dict__", "__globals__", "__code__", "__closure__", "__builtins__", "__class__", "__bases__",
                      "__base__", "__mro__", "__subclasses__", "__getattribute__", "__setattr__", "__delattr__",
                      "__reduce__", "__reduce_ex__", "__self__", "__func__", "__wrapped__", "__module__",
                      "__import__", "__loader__", "__spec__", "__defaults__", "__kwdefaults__", "__traceback__",
                      "__context__", "__cause__", "__objclass__", "__get__", "__set__", "__init_subclass__",
                      "__set_name__", "__class_getitem__", "__getattr__", "__delete__", "__annotations__",
                      "__del__", "__file__", "__path__", "__package__", "__all__"})
_FRAMES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame", "tb_next",
                     "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "gi_yieldfrom",
                     "cr_await", "co_code", "co_consts"})
_MUTATORS = frozenset({"update", "clear", "pop", "popitem", "setdefault", "append", "extend", "insert", "remove",
                       "sort", "reverse", "add", "discard", "difference_update", "intersection_update",
                       "symmetric_difference_update", "__setitem__", "__delitem__", "fill", "put", "itemset",
                       "resize", "setflags"})
_UNSAFE_KEYWORDS = {"weights_only": False, "allow_pickle": True}
_DUNDER_TEXT = re.compile(r"__\w+__")


def module_refusal(module: str, names=()) -> str | None:
    """Why a cell may not import ``module`` (``from module import names``), or None."""
    top = module.split(".")[0]
    if top not in ALLOWED_MODULES:
        return f"imports {module}, which exercise cells may not use (docs/grading.md lists the allowed modules)"
    for denied in DENIED_MODULES:
        for full in [module, *(f"{module}.{n}" for n in names)]:
            if full == denied or full.startswith(denied + "."):
                if denied == "course_lib.check":
                    return f"imports {full}: the checks belong to the grader, not to a solution"
                return f"imports {full}, which exercise cells may not use"
    for name in names:
        reason = _attribute_refusal(module, name)
        if reason:
            return reason
    return None


def _attribute_refusal(path: str, attr: str) -> str | None:
    if path in ONLY_ATTRIBUTES and attr not in ONLY_ATTRIBUTES[path]:
        return (f"uses {path}.{attr}: of {path}, exercise cells may use only "
                f"{', '.join(sorted(ONLY_ATTRIBUTES[path]))}")
    if attr in DENIED_ATTRIBUTES.get(path, ()):
        return f"uses {path}.{attr}, which exercise cells may not use"
    return None


_CONSTANT_NAME = re.compile(r"_?[A-Z][A-Z0-9_]*")


def _tail(answer: str) -> list[str]:
    """The part of a library answer's dotted name a cell would write: ``Manifest.build`` or ``merkle_root``."""
    parts = answer.split(".")
    return parts[-2:] if parts[-2][:1].isupper() else parts[-1:]


class _Screen(ast.NodeVisitor):
    """Walks a cell's AST; ``reason`` is the first refusal found."""

    def __init__(self, aliases: dict[str, str], answers: tuple[str, ...]):
        self.aliases = dict(aliases)        # name -> dotted origin of what an import (or an alias) bound
        self.answers = answers
        self.reason = None
        self.called = set()                  # the getattr names that are called directly

    def refuse(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def path(self, node) -> str | None:
        """The dotted origin of a name or attribute chain that starts from an imported name, or None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def judge_path(self, path: str) -> None:
        if path == "course_lib.check" or path.startswith("course_lib.check."):
            self.refuse(f"reaches {path}: the checks belong to the grader, not to a solution")
            return
        if path.startswith("course_lib."):
            parts = path.split(".")
            for answer in self.answers:
                tail = _tail(answer)
                if parts[-len(tail):] == tail:
                    self.refuse(f"uses {answer}, the course's own answer to this exercise: the exercise cell must "
                                f"compute it with its own code")
                    return
        module, _, attr = path.rpartition(".")
        reason = module and _attribute_refusal(module, attr)
        if reason:
            self.refuse(reason)

    def judge_attribute(self, base, attr: str) -> None:
        if attr in _DUNDERS or attr in _FRAMES:
            self.refuse(f"reaches into Python's internals ({attr})")
        elif attr in CHECK_NAMES:
            self.refuse(f"uses {attr}: the checks belong to the grader, not to a solution")
        elif attr.startswith("_") and not attr.startswith("__") and not (
                isinstance(base, ast.Name) and base.id in ("self", "cls")):
            self.refuse(f"reads the private attribute {attr} of an object it did not define")

    # imports
    def visit_Import(self, node):
        for alias in node.names:
            reason = module_refusal(alias.name)
            if reason:
                self.refuse(reason)
            top = alias.name.split(".")[0]
            self.aliases[alias.asname or top] = alias.name if alias.asname else top

    def visit_ImportFrom(self, node):
        if node.level:
            self.refuse("uses a relative import")
            return
        names = [a.name for a in node.names]
        if "*" in names:
            self.refuse(f"imports * from {node.module}: import the names you use")
            return
        reason = module_refusal(node.module, names)
        if reason:
            self.refuse(reason)
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            self.judge_path(full)
            if alias.name in CHECK_NAMES or alias.name.startswith("_"):
                self.judge_attribute(None, alias.name)
            self.aliases[alias.asname or alias.name] = full

    # names, attributes, strings
    def visit_Name(self, node):
        if node.id in ("getattr", "hasattr") and id(node) not in self.called:
            self.refuse(f"uses {node.id} other than in a call with a literal name (g = getattr; g(x, name))")
        elif node.id in BLOCKED_BUILTINS or (_DUNDER_TEXT.fullmatch(node.id) and node.id != "__name__"):
            self.refuse(f"uses {node.id}, which exercise cells may not use")
        elif node.id in CHECK_NAMES:
            self.refuse(f"uses {node.id}: the checks belong to the grader, not to a solution")
        elif node.id in ("sys", "builtins"):
            self.refuse(f"uses {node.id}, which exercise cells may not use")

    def visit_Attribute(self, node):
        self.judge_attribute(node.value, node.attr)
        path = self.path(node)
        if path:
            self.judge_path(path)
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            text = node.value
            if any(name in text for name in _DUNDERS) or any(re.search(rf"\b{name}\b", text) for name in _FRAMES):
                self.refuse("holds the name of a Python internal in a string")
            for answer in self.answers:
                if text in (answer, answer.rsplit(".", 1)[-1]):
                    self.refuse(f"names {answer}, the course's own answer to this exercise, in a string")

    # changes to libraries
    def _root(self, target) -> str | None:
        node = target
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return self.aliases[node.id]
        return None

    def judge_store(self, target) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.judge_store(element)
        elif isinstance(target, ast.Starred):
            self.judge_store(target.value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            root = self._root(target)
            if root:
                shown = self.path(target) or f"{ast.unparse(target)} (from {root})"
                self.refuse(f"changes {shown}: a solution may not change a library")

    def visit_Assign(self, node):
        for target in node.targets:
            self.judge_store(target)
        value = self.path(node.value) if isinstance(node.value, (ast.Name, ast.Attribute)) else None
        for target in node.targets:              # an alias of something imported hangs from the library too
            if isinstance(target, ast.Name):
                if value:
                    self.aliases[target.id] = value
                else:
                    self.aliases.pop(target.id, None)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.judge_store(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.judge_store(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.judge_store(target)
        self.generic_visit(node)

    def visit_For(self, node):
        self.judge_store(node.target)
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self.judge_store(item.optional_vars)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr"):
            self.called.add(id(func))
            name = node.args[1] if len(node.args) >= 2 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                self.judge_attribute(node.args[0], name.value)
                path = self.path(node.args[0])
                if path:
                    self.judge_path(f"{path}.{name.value}")
            elif func.id == "getattr":
                self.refuse("uses getattr with a computed name")
        if isinstance(func, ast.Attribute):
            receiver = self.path(func.value)
            if receiver and _CONSTANT_NAME.fullmatch(receiver.rsplit(".", 1)[-1]) and (
                    func.attr in _MUTATORS or func.attr.endswith("_") and not func.attr.startswith("_")):
                self.refuse(f"calls {ast.unparse(func)}(…), which changes {receiver}: a solution may not change "
                            f"a library")
        for keyword in node.keywords:
            if keyword.arg in _UNSAFE_KEYWORDS and not (isinstance(keyword.value, ast.Constant)
                                                       and keyword.value.value is (not _UNSAFE_KEYWORDS[keyword.arg])):
                self.refuse(f"calls {ast.unparse(func)} with {keyword.arg}={ast.unparse(keyword.value)}: "
                            f"unpickling runs arbitrary code")
            elif keyword.arg == "pickle_module":
                self.refuse(f"calls {ast.unparse(func)} with pickle_module=…: unpickling runs arbitrary code")
        self.generic_visit(node)


def _aliases(preamble: str) -> dict[str, str]:
    """What the chapter's imports bind: name -> dotted origin."""
    walker = _Screen({}, ())
    for node in ast.parse(preamble or "").body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            walker.visit(node)
    return walker.aliases


def screen(source: str, preamble: str = "", answers: tuple[str, ...] = ()) -> str | None:
    """Why the exercise cell ``source`` is refused, or None. ``preamble`` holds the chapter's imports
    (what the cell's names may refer to), ``answers`` the library answers of the exercise. A cell that
    does not parse is not refused here: running it reports the syntax error as a failure."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    walker = _Screen(_aliases(preamble), tuple(answers))
    walker.visit(tree)
    return f"the exercise cell {walker.reason}" if walker.reason else None
