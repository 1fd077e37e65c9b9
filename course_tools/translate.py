"""Translations of the chapters: catalogues keyed to the English, so that they cannot fall behind.

``python -m course_tools.translate extract [--lang zh]`` writes, per chapter, ``locale/<lang>/<stem>.json``:
one entry per translatable block of a markdown cell — a heading, a paragraph, a list item, a table,
a blockquote (callout) — keyed by the cell's id, the block's index and the SHA-256 of its English
text. Extracting again keeps every translation whose English is unchanged, marks one whose English
changed as stale (its old English kept beside it), and adds new blocks with an empty translation.
``status`` reports, per chapter, how many entries are translated, missing and stale.

Code cells are never translated: the translated notebooks take them from the English ones.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

__all__ = ["blocks", "translate_cell", "digest", "catalogue_path", "extract", "status", "main"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LOCALE = ROOT / "locale"
_ITEM = re.compile(r"^(\s{0,3})([-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def blocks(markdown: str) -> list[str]:
    """The translatable blocks of one markdown cell, in order; each is an exact substring of the cell.

    A block ends at a blank line; a heading is a block; each top-level list item is a block (with
    its indented continuation); consecutive table rows are one block, and so are consecutive
    blockquote lines. Fenced code is not translatable and is left out.
    """
    out, current, kind, fenced = [], [], None, False

    def flush():
        nonlocal current, kind
        if current and kind != "code":
            out.append("\n".join(current))
        current, kind = [], None

    for line in markdown.split("\n"):
        if fenced or _FENCE.match(line):
            if not fenced:
                flush()
                kind = "code"
            current.append(line)
            if fenced and _FENCE.match(line):
                fenced = False
                flush()
            elif not fenced and len(current) == 1:
                fenced = True
            continue
        if not line.strip():
            flush()
            continue
        stripped = line.lstrip()
        if stripped.startswith("#"):
            flush()
            out.append(line)
            continue
        if _ITEM.match(line) and not line.startswith(" "):
            line_kind = "item"
        elif stripped.startswith("|"):
            line_kind = "table"
        elif stripped.startswith(">"):
            line_kind = "quote"
        else:
            line_kind = None
        if line_kind == "item" or (line_kind and line_kind != kind) or (kind in ("table", "quote") and line_kind != kind
                                                                        and not (kind == "quote" and line_kind is None)):
            flush()
            kind = line_kind
        elif kind is None:
            kind = line_kind or "paragraph"
        current.append(line)
    flush()
    return out


def translate_cell(markdown: str, translations: dict[str, str]) -> str:
    """The cell with each block replaced by its translation (``translations``: English block → translation)."""
    result, position = [], 0
    for block in blocks(markdown):
        at = markdown.index(block, position)
        result.append(markdown[position:at])
        result.append(translations.get(block) or block)
        position = at + len(block)
    result.append(markdown[position:])
    return "".join(result)


def catalogue_path(stem: str, lang: str = "zh") -> Path:
    return LOCALE / lang / f"{stem}.json"


def _chapters():
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def extract(lang: str = "zh") -> dict[str, dict]:
    """Write (or refresh) every chapter's catalogue; return {stem: counts}."""
    report = {}
    for path in _chapters():
        nb = nbformat.read(path, as_version=4)
        target = catalogue_path(path.stem, lang)
        old = json.loads(target.read_text(encoding="utf-8")) if target.exists() else {"entries": []}
        known = {(e["cell"], e["en"]): e for e in old["entries"]}
        by_position = {(e["cell"], e["block"]): e for e in old["entries"]}
        entries = []
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for k, text in enumerate(blocks(cell.source)):
                entry = {"cell": cell.id, "block": k, "sha": digest(text), "en": text, "zh": "", "stale": False}
                if (cell.id, text) in known and known[(cell.id, text)].get("zh"):
                    entry["zh"] = known[(cell.id, text)]["zh"]
                    entry["stale"] = bool(known[(cell.id, text)].get("stale"))
                elif (cell.id, k) in by_position and by_position[(cell.id, k)].get("zh"):
                    previous = by_position[(cell.id, k)]
                    entry.update(zh=previous["zh"], stale=True, was=previous.get("was", previous["en"]))
                entries.append(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"chapter": path.stem, "lang": lang, "entries": entries}, ensure_ascii=False,
                                     indent=1) + "\n", encoding="utf-8")
        report[path.stem] = _counts(entries)
    return report


def _counts(entries) -> dict:
    return {"entries": len(entries), "translated": sum(1 for e in entries if e["zh"] and not e["stale"]),
            "missing": sum(1 for e in entries if not e["zh"]), "stale": sum(1 for e in entries if e["zh"] and e["stale"])}


def status(lang: str = "zh") -> dict[str, dict]:
    """Per chapter: entries translated, missing, stale, against the current English (nothing is written)."""
    report = {}
    for path in _chapters():
        nb = nbformat.read(path, as_version=4)
        target = catalogue_path(path.stem, lang)
        have = {}
        if target.exists():
            for e in json.loads(target.read_text(encoding="utf-8"))["entries"]:
                have[(e["cell"], e["sha"])] = e
        entries = []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for text in blocks(cell.source):
                    e = have.get((cell.id, digest(text)))
                    entries.append({"zh": e["zh"] if e else "", "stale": bool(e and e.get("stale"))})
        report[path.stem] = _counts(entries)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.translate", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["extract", "status"])
    parser.add_argument("--lang", default="zh")
    args = parser.parse_args(argv)
    report = extract(args.lang) if args.command == "extract" else status(args.lang)
    for stem, counts in report.items():
        print(f"{stem:45} {counts['translated']:4}/{counts['entries']:<4} missing {counts['missing']:4}  stale {counts['stale']:4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
