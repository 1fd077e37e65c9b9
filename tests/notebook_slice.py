"""The code cells a notebook's chosen cells need: a backward slice by the names each cell binds and reads.

The browser tests run, in JupyterLab, only what the widgets they drive need; every whole chapter runs
under nbval (solved) and in the site's widget pass (unsolved, both editions). A cell is kept when it
is chosen, or when it binds, or assigns into, a name that a kept cell after it reads. A name that the
slice misses fails the slice's own Run All with a NameError: a loud failure, never a silent pass.
"""
import ast
import builtins

IPYTHON_LINE = ("%", "!")          # magics and shell lines: not Python, and never needed by a widget


def _parse(source: str) -> ast.Module:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(IPYTHON_LINE)]
    return ast.parse("\n".join(lines))


class _Names(ast.NodeVisitor):
    """Module-level bindings (``binds``), roots assigned into (``touches``: ``name.attr = …``,
    ``name[i] = …``), and every name read, inside functions too (``reads``)."""

    def __init__(self):
        self.binds, self.touches, self.reads, self._local = set(), set(), set(), 0

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.reads.add(node.id)
        elif not self._local:
            self.binds.add(node.id)

    def _store_into(self, node):
        root = node.value
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if isinstance(root, ast.Name) and not self._local:
            self.touches.add(root.id)

    def visit_Attribute(self, node):
        if isinstance(node.ctx, ast.Store):
            self._store_into(node)
        self.generic_visit(node)

    visit_Subscript = visit_Attribute

    def visit_Import(self, node):
        if not self._local:
            self.binds.update((alias.asname or alias.name).split(".")[0] for alias in node.names)

    visit_ImportFrom = visit_Import

    def _scope(self, node):
        self._local += 1
        self.generic_visit(node)
        self._local -= 1

    def visit_FunctionDef(self, node):
        if not self._local:
            self.binds.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._scope(node)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef
    visit_Lambda = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _scope


def binds_and_reads(source: str) -> tuple[set[str], set[str], set[str]]:
    """What a cell binds at module level, the names it assigns into, and the names it reads."""
    names = _Names()
    names.visit(_parse(source))
    return names.binds, names.touches, names.reads - set(dir(builtins))


def needed_cells(sources: list[str], chosen: set[int]) -> list[int]:
    """Indices (in order) of the cells in ``sources`` that the ``chosen`` ones need, the chosen included."""
    kept, wanted = [], set()
    for index in range(max(chosen), -1, -1):
        binds, touches, reads = binds_and_reads(sources[index])
        if index in chosen or (binds | touches) & wanted:
            kept.append(index)
            wanted = (wanted - binds) | reads
    return kept[::-1]
