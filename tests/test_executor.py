import nbformat
import pytest

from course_tools.executor import NotebookExecutionError, execute_notebook


def write(path, *sources, widgets=False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    return path


def test_executes_top_to_bottom_and_stores_outputs(tmp_path):
    path = write(tmp_path / "ok.ipynb", "x = 6 * 7", "print(x)", widgets=True)
    execute_notebook(path)
    nb = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, 2]
    assert nb.cells[1].outputs[0].text == "42\n"
    assert "widgets" not in nb.metadata
    assert all("execution" not in c.metadata for c in nb.cells)


def test_refuses_to_store_a_notebook_with_an_unexpected_error(tmp_path):
    path = write(tmp_path / "bad.ipynb", "1 / 0")
    before = path.read_bytes()
    with pytest.raises(NotebookExecutionError, match="ZeroDivisionError"):
        execute_notebook(path)
    assert path.read_bytes() == before  # untouched
    assert not [p for p in tmp_path.iterdir() if p.name != "bad.ipynb"]  # no temp file left


def test_announced_errors_are_stored_and_execution_continues(tmp_path):
    path = write(tmp_path / "raises.ipynb", "# NBVAL_RAISES_EXCEPTION\nraise ValueError('shown on purpose')",
                 "print('after')")
    execute_notebook(path)
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].outputs[0].ename == "ValueError"
    assert nb.cells[1].outputs[0].text == "after\n"


def test_an_announced_error_that_does_not_happen_is_refused(tmp_path):
    path = write(tmp_path / "quiet.ipynb", "# NBVAL_RAISES_EXCEPTION\nx = 1")
    with pytest.raises(NotebookExecutionError, match="raised nothing"):
        execute_notebook(path)


def test_machine_paths_are_replaced(tmp_path):
    path = write(tmp_path / "path.ipynb", "import course_lib.environment as e; print(e.REPO_ROOT / 'x')")
    execute_notebook(path)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0].text == "<course>/x\n"
