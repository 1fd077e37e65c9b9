"""Course-wide notebook hygiene. nbval silently passes cells that were never executed, so
this checks every committed notebook was executed top to bottom by the executor."""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
MACHINE_PATH = re.compile(r"/(work|root|home/[a-z]+|tmp/pytest)/")


def test_the_course_has_notebooks():
    assert NOTEBOOKS, "no notebooks found"
    assert NOTEBOOKS[0].name == "00_welcome_threat_model.ipynb"
    for nb in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", nb.name), nb.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_was_executed_top_to_bottom(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"], "widget state must be stripped (use the executor)"
    counts = []
    for index, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or not source.strip():
            continue
        assert cell["execution_count"] is not None, f"code cell {index} was never executed"
        counts.append(cell["execution_count"])
        if "NBVAL_RAISES_EXCEPTION" in source:
            assert "raises-exception" in cell["metadata"].get("tags", []), \
                f"cell {index}: tag it raises-exception so Run All in JupyterLab does not stop there"
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                assert "NBVAL_RAISES_EXCEPTION" in source, f"cell {index} stores an unexpected error"
            assert not MACHINE_PATH.search(json.dumps(output)), f"cell {index} output shows a machine path"
    assert counts == list(range(1, len(counts) + 1)), "cells must be executed once each, in order, in a fresh kernel"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_chapter_template(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert text.startswith("# "), "first cell: the chapter title"
    for section in ("You will learn", "Prerequisites", "Summary", "Further reading"):
        assert section in text, f"missing section {section!r}"
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "import course_lib as cl" in code


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] != "00"], ids=lambda p: p.stem)
def test_chapter_states_its_threat_model_near_the_top(path):
    """Chapter 00 is the threat-model chapter; every other one has a short box before its first section."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    before_first_section = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and re.search(r"^## ", source, re.M):
            break
        before_first_section.append(source)
    text = "\n".join(before_first_section)
    assert "> **Threat model.**" in text, "state who is trusted, what the attacker can do, and what is not protected"
    assert "not" in text.split("> **Threat model.**", 1)[1].split("\n\n")[0], "say what the chapter does not protect"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_check_in_the_instructor_notebook_passes(path):
    """The committed solutions must pass their own checks (a failed check does not raise, so nbval alone misses it)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code" and "cl.check." in "".join(cell["source"]):
            shown = json.dumps(cell.get("outputs", []), ensure_ascii=False)
            assert "✗" not in shown and "not yet solved" not in shown, f"cell {index}: the solution fails its check"
