"""Every chapter's guarantees are checkable: each item of the list that ends its threat-model box
names the test that performs the strongest attack the threat model allows, and that test exists and
is collected.

The list is a blockquote right after the threat model, before the chapter's first section::

    > **What this chapter's code guarantees**, and under which assumptions:
    > - <the guarantee>, assuming <what it rests on>. Attack: `tests/test_x.py::test_name`.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if p.name[:2] != "00"]          # chapter 00 is the map of threats, not a tool
LABEL = "> **What this chapter's code guarantees**"
TEST_ID = re.compile(r"`(tests/[\w/]+\.py::[\w:\[\]\-.]+)`")


def header_text(path: Path) -> str:
    """The markdown before the chapter's first section: title, learning goals and the threat-model box."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = []
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and re.search(r"^## ", source, re.M):
            break
        if cell["cell_type"] == "markdown":
            text.append(source)
    return "\n\n".join(text)


def guarantees(path: Path) -> list[str]:
    """The items of the chapter's guarantee list (one string per item, continuation lines joined)."""
    text = header_text(path)
    if LABEL not in text:
        return []
    block = text.split(LABEL, 1)[1].split("\n\n", 1)[0]
    items: list[str] = []
    for line in block.splitlines()[1:]:
        if line.startswith("> - "):
            items.append(line[4:])
        elif line.startswith(">") and items:
            items[-1] += " " + line[1:].strip()
    return items


def named_tests() -> dict[str, list[str]]:
    return {p.stem: [t for item in guarantees(p) for t in TEST_ID.findall(item)] for p in CHAPTERS}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_threat_model_box_ends_with_what_the_code_guarantees(path):
    text = header_text(path)
    assert LABEL in text, f"{path.name}: end the threat-model box with {LABEL!r} and a list"
    assert text.index("> **Threat model.**") < text.index(LABEL), "the list follows the threat model"
    items = guarantees(path)
    assert items, f"{path.name}: the guarantee list has no items"
    for item in items:
        assert TEST_ID.search(item), f"{path.name}: this guarantee names no test that attacks it: {item!r}"
        assert re.search(r"\bassum|\bif\b|\bprovided\b|\bunless\b|\bwhile\b", item), \
            f"{path.name}: say under which assumptions this holds: {item!r}"


def test_every_named_attack_test_exists_and_is_collected():
    wanted = sorted({t for tests in named_tests().values() for t in tests})
    assert wanted, "no chapter names a test"
    files = sorted({t.split("::", 1)[0] for t in wanted})
    for name in files:
        assert (ROOT / name).is_file(), f"a guarantee names {name}, which does not exist"
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:randomly", *files],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    ids = {line.strip() for line in collected.stdout.splitlines() if "::" in line}
    assert ids, f"collection failed:\n{collected.stdout[-3000:]}\n{collected.stderr[-3000:]}"
    for test in wanted:
        found = any(i == test or i.startswith(test + "[") or i.startswith(test + "::") for i in ids)
        assert found, f"a chapter names {test}, which pytest does not collect"
