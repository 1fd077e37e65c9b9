"""The browser tests' slice of a chapter (tests/notebook_slice.py) keeps what its widgets need."""
import nbformat

from .notebook_slice import binds_and_reads, needed_cells
from .test_browser import NOTEBOOKS, TESTED_WIDGETS, cut_to_tested_widgets


def test_a_cell_binds_what_it_assigns_imports_and_defines_but_not_its_functions_locals():
    binds, touches, reads = binds_and_reads(
        "import numpy as np\nfrom a.b import c\nx, y = f(z)\nfor i in r: pass\n"
        "def g(k):\n    local = k + w\n    return local\nq = [j for j in s]\nobj.field = 1\nd['k'] = 2\n%timeit x")
    assert binds == {"np", "c", "x", "y", "i", "g", "q"}
    assert touches == {"obj", "d"}
    assert {"f", "z", "r", "w", "s"} <= reads and "len" not in binds_and_reads("len(a)")[2]


def test_the_slice_follows_names_back_through_rebinding_and_assignment_into():
    cells = ["import course_lib as cl", "data = load()", "unused = 1", "data = clean(data)",
             "data.extra = cl.x", "other = 2", "w = cl.widgets.W(data)"]
    assert needed_cells(cells, {6}) == [0, 1, 3, 4, 6]


def test_each_browser_chapter_keeps_its_imports_and_every_cell_that_makes_a_tested_widget():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        names = TESTED_WIDGETS.get(path.name[:2])
        if not names:
            continue
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        kept = cut_to_tested_widgets(nb, names).cells
        assert kept[0].source == first.source and all(c.cell_type == "code" for c in kept)
        for name in names:
            assert any(f"cl.widgets.{name}(" in c.source for c in kept), (path.name, name)
