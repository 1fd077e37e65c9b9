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


TERMS_MARK = "**Terms in this chapter**"


def chapter_cells():
    """{chapter: (text of every cell except the term list, the term list's terms)}."""
    import json
    chapters = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources = ["".join(c["source"]) for c in cells]
        lists = [s for c, s in zip(cells, sources) if c["cell_type"] == "markdown" and s.startswith(TERMS_MARK)]
        assert len(lists) == 1, f"{path.name}: one markdown cell starting with {TERMS_MARK!r}"
        terms = [t.strip() for t in lists[0].split(":", 1)[1].split(" · ")]
        chapters[path.name[:2]] = ("\n".join(s for s in sources if not s.startswith(TERMS_MARK)).lower(), terms)
    return chapters


def key(term: str) -> str:
    return term.split(" (")[0]


def test_glossary_terms_are_taught_in_their_chapter():
    chapters = chapter_cells()
    for term, _, _, chapter in rows():
        word = re.split(r"[ (/]", term.lower())[0]
        assert word in chapters[chapter][0], f"'{term}' (first word '{word}') does not appear in chapter {chapter}"


def test_every_term_a_chapter_lists_is_in_the_glossary_and_every_entry_is_listed_by_its_chapter():
    chapters = chapter_cells()
    glossary = {key(term): chapter for term, _, _, chapter in rows()}
    for chapter, (_, terms) in chapters.items():
        for term in terms:
            assert term in glossary, f"chapter {chapter} lists {term!r}, which the glossary lacks"
            assert glossary[term] <= chapter, f"{term!r} is taught in chapter {glossary[term]}, listed in {chapter}"
    for term, chapter in glossary.items():
        assert term in chapters[chapter][1], f"chapter {chapter} does not list {term!r} among its terms"


def test_the_glossary_applies_the_bilingual_review():
    entries = {key(term): (chinese, definition) for term, chinese, definition, _ in rows()}
    assert "可信第三方" not in entries["dealer"][0] and "辅助方" in entries["dealer"][0]
    assert "collude" in entries["dealer"][1]
    assert "密钥包装" in entries["data key / key wrapping"][0]
    assert "杂凑" in entries["hash function"][0] and "鉴别码" in entries["MAC"][0]
    assert "口令" in entries["password"][0]
    assert "模格" in entries["ML-KEM / ML-DSA"][0]
    text = (ROOT / "GLOSSARY.md").read_text(encoding="utf-8")
    assert "原文的三处错误" in text and "可信第三方" in text.split("原文的三处错误")[1]
