import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHAPTERS = {p.name[:2] for p in (ROOT / "notebooks").glob("*.ipynb")}


def rows():
    lines = (ROOT / "GLOSSARY.md").read_text(encoding="utf-8").splitlines()
    table = [l for l in lines if l.startswith("| ") and not l.startswith("| term") and not l.startswith("|---")]
    return [[c.strip() for c in l.strip("|").split("|")] for l in table]


def test_every_glossary_entry_has_a_chinese_term_a_definition_and_an_existing_chapter():
    entries = rows()
    assert len(entries) >= 40
    for term, chinese, definition, chapter in entries:
        assert re.search(r"[\u4e00-\u9fff]", chinese), f"{term}: no Chinese term"
        assert len(definition) > 20, term
        assert chapter in CHAPTERS, f"{term}: chapter {chapter} does not exist"
    terms = [e[0].lower() for e in entries]
    assert terms == sorted(terms), "keep the glossary in alphabetical order"


def test_glossary_terms_are_taught_in_their_chapter():
    notebooks = {p.name[:2]: p.read_text(encoding="utf-8").lower() for p in (ROOT / "notebooks").glob("*.ipynb")}
    for term, _, _, chapter in rows():
        word = re.split(r"[ (/]", term.lower())[0]
        assert word in notebooks[chapter], f"'{term}' (first word '{word}') does not appear in chapter {chapter}"
