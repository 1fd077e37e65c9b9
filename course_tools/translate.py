"""Translations of the chapters: catalogues keyed to the English, so that they cannot fall behind.

``python -m course_tools.translate extract [--lang zh]`` writes, per chapter, ``locale/<lang>/<stem>.json``:
one entry per translatable block of a markdown cell — a heading, a paragraph, a list item, a table,
a blockquote (callout) — keyed by the cell's id, the block's index and the SHA-256 of its English
text. Extracting again keeps every translation whose English is unchanged, marks one whose English
changed as stale (its old English kept beside it), and adds new blocks with an empty translation.
``status`` reports, per chapter, how many entries are translated, missing and stale.

Code cells are never translated: the translated notebooks take them from the English ones.

``build [--lang zh] [--out DIR] [--force] [--instructor]`` writes the translated notebooks
(default: the student versions, into ``student/<lang>/``): each markdown cell translated block by
block, a block without a current translation left in English, code cells and outputs those of the
English notebook byte for byte. An existing file is kept (it may hold a learner's work) unless
``--force``. ``check`` exits with status 1 and names chapter, cell and paragraph for every
block that is missing, stale or whose English changed since the catalogue was made, and every
such entry of the messages.

``extract-messages [--lang zh]`` gathers the English texts the course's code shows — exercise
checks, hints and tasks (``course_lib/check/``), quizzes (``course_lib/quiz*.py``), the doctor's
lines and the site's notes — into ``locale/<lang>/messages.json``, keyed by the English text
(an f-string keeps its fields: ``{label}``). It only adds: an unchanged text keeps its
translation, a changed one (same place, new English) gets the old translation marked stale
with the old English beside it, and a text that is gone is marked unused. ``course_lib.i18n``
reads the file at run time (``COURSE_LANG=zh``).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

__all__ = ["blocks", "translate_cell", "digest", "catalogue_path", "extract", "status", "translations",
           "translated_notebook", "build", "problems", "check", "MESSAGE_SOURCES", "message_texts",
           "messages_path", "extract_messages", "message_problems", "main"]

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


# ---------------------------------------------------------------- translated notebooks

_RELATIVE_LINK = re.compile(r"(\]\()(\.\./)")


def _catalogue(stem: str, lang: str) -> list[dict]:
    target = catalogue_path(stem, lang)
    return json.loads(target.read_text(encoding="utf-8"))["entries"] if target.exists() else []


def translations(stem: str, lang: str = "zh") -> dict[str, dict[str, str]]:
    """{cell id: {English block: translation}}: the current translations only (none stale, none empty)."""
    table: dict[str, dict[str, str]] = {}
    for e in _catalogue(stem, lang):
        if e.get("zh") and not e.get("stale") and e.get("sha") == digest(e["en"]):
            table.setdefault(e["cell"], {})[e["en"]] = e["zh"]
    return table


def translated_notebook(nb, stem: str, lang: str = "zh", *, deeper: int = 0):
    """A copy of ``nb`` with its markdown translated from ``stem``'s catalogue; code cells untouched.

    ``deeper``: how many folders deeper than ``notebooks/`` the copy will live (its ``../`` links follow).
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    table = translations(stem, lang)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = translate_cell(cell.source, table.get(cell.get("id"), {}))
            if deeper:
                cell.source = _RELATIVE_LINK.sub(lambda m: m.group(1) + "../" * deeper + m.group(2), cell.source)
    nb.metadata["language"] = lang
    return nb


def build(lang: str = "zh", out: Path | None = None, *, force: bool = False, instructor: bool = False,
          paths=None) -> tuple[list[Path], list[Path]]:
    """Write the ``lang`` notebooks (student versions unless ``instructor``) into ``out``
    (default ``student/<lang>/``); returns (written, kept because they exist and may hold work)."""
    from course_tools.student import student_notebook
    out = Path(out) if out is not None else ROOT / "student" / lang
    out.mkdir(parents=True, exist_ok=True)
    deeper = 1 if (out.name, out.resolve().parent.name) == (lang, "student") else 0    # student/<lang>/: one deeper
    written, kept = [], []
    for path in map(Path, paths or sorted(NOTEBOOKS.glob("*.ipynb"))):
        target = out / path.name
        if target.exists() and not force:
            kept.append(target)
            continue
        nb = nbformat.read(path, as_version=4)
        if not instructor:
            nb = student_notebook(nb)
        nbformat.write(translated_notebook(nb, path.stem, lang, deeper=deeper), target)
        written.append(target)
    return written, kept


# ---------------------------------------------------------------- the freshness gate

def _start(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 1] + "…"


def problems(lang: str = "zh", stems=None) -> list[str]:
    """One line per chapter block without a current translation: chapter, cell, block, why, its start."""
    lines = []
    for path in _chapters():
        if stems and path.stem not in stems:
            continue
        nb = nbformat.read(path, as_version=4)
        entries = _catalogue(path.stem, lang)
        by_sha = {(e["cell"], e["sha"]): e for e in entries}
        by_position = {(e["cell"], e["block"]): e for e in entries}
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for k, text in enumerate(blocks(cell.source)):
                e = by_sha.get((cell.id, digest(text)))
                if e is None:
                    why = ("English changed since the catalogue was made (run extract)"
                           if (cell.id, k) in by_position else "not in the catalogue (run extract)")
                elif not e.get("zh"):
                    why = "missing"
                elif e.get("stale"):
                    why = "stale: its English changed since it was translated"
                else:
                    continue
                lines.append(f"{path.stem} cell {cell.id} block {k}: {why}: “{_start(text)}”")
    return lines


# ---------------------------------------------------------------- messages of the code

# the files whose texts learners see; for site.py only the named module-level texts
MESSAGE_SOURCES = {
    "course_lib/check": None, "course_lib/quiz.py": None, "course_lib/quiz_questions.py": None,
    "course_tools/doctor.py": None,
    "course_tools/site.py": {"WIDGET_NOTE", "NO_STATE_NOTE", "SECURITY_MODEL_INTRO", "SECURITY_MODEL_NONE",
                             "SECURITY_MODEL_MAP", "SECURITY_MODEL_FROM", "SECURITY_MODEL_TITLE", "SITE_TITLE",
                             "TOCTREE_CAPTIONS"},
}
_EVERY_TEXT = {"quiz_questions.py", "site.py"}     # every text, one word or many
_MARKUP = re.compile(r"\s*<\w+[^>]*\bstyle=")                 # an HTML wrapper, not a text
_WORDS = re.compile(r"[A-Za-z]{2,}[^\s]*\s+\S*[A-Za-z]")
_DEVELOPER_ERRORS = {"ValueError", "TypeError", "RuntimeError", "KeyError", "SystemExit", "AttributeError"}
_SKIPPED_CALLS = {"add_argument", "ArgumentParser", "add_parser", "startswith", "endswith", "compile", "getattr",
                  "search", "match", "sub", "fullmatch", "split", "get", "setdefault"}


def _f_string_key(node: ast.JoinedStr) -> str:
    out = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            out.append(str(value.value).replace("{", "{{").replace("}", "}}"))
        else:
            text = ast.unparse(value.value)
            if value.conversion != -1:
                text += "!" + chr(value.conversion)
            if value.format_spec is not None:
                text += ":" + _f_string_key(value.format_spec)
            out.append("{" + text + "}")
    return "".join(out)


def _texts_of(path: Path, names: set[str] | None) -> list[tuple[str, str]]:
    """(where, English) for every human-readable string literal or f-string of ``path``, in order."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    relative = path.relative_to(ROOT).as_posix()
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}

    def scope_of(node) -> tuple[str | None, bool]:
        """(scope, forced): the enclosing function or module-level name; None for a text to leave out."""
        child, parent, forced = node, parents.get(node), False
        while parent is not None:
            if isinstance(parent, ast.Call):
                name = parent.func.attr if isinstance(parent.func, ast.Attribute) else getattr(parent.func, "id", "")
                if name in ("tr", "_tr"):
                    forced = forced or (bool(parent.args) and parent.args[0] is child)
                elif name in _SKIPPED_CALLS:
                    return None, False
            elif isinstance(parent, ast.Raise) and isinstance(parent.exc, ast.Call) and \
                    getattr(parent.exc.func, "id", "") in _DEVELOPER_ERRORS:
                return None, False
            elif isinstance(parent, ast.Dict) and any(k is child for k in parent.keys):
                return None, False
            elif isinstance(parent, ast.Compare) or (isinstance(parent, ast.Subscript) and child is parent.slice):
                return None, False
            elif isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return parent.name, forced
            elif isinstance(parent, ast.Assign) and isinstance(parents.get(parent), ast.Module):
                target = parent.targets[0]
                name = target.id if isinstance(target, ast.Name) else "module"
                return (None, False) if name == "__all__" else (name, forced)
            child, parent = parent, parents.get(parent)
        return "module", forced

    every = path.name in _EVERY_TEXT          # quizzes: every option, one word or many
    found, counters = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            if isinstance(parents.get(node), (ast.JoinedStr, ast.FormattedValue)):
                continue
            text = _f_string_key(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if isinstance(parents.get(node), (ast.JoinedStr, ast.FormattedValue)) or id(node) in docstrings:
                continue
            text = node.value
        else:
            continue
        scope, forced = scope_of(node)
        if scope is None or (names is not None and scope not in names):
            continue
        if not (forced or every) and (not _WORDS.search(re.sub(r"\{[^{}]*\}", " ", text)) or _MARKUP.match(text)):
            continue
        found.append((node.lineno, node.col_offset, scope, text))
    found.sort()
    out = []
    for _line, _col, scope, text in found:
        n = counters[scope] = counters.get(scope, -1) + 1
        out.append((f"{relative}:{scope}#{n}", text))
    return out


def message_texts() -> list[tuple[str, str]]:
    """(where, English) for every text of MESSAGE_SOURCES, in a stable order."""
    texts = []
    for source, names in MESSAGE_SOURCES.items():
        path = ROOT / source
        for file in (sorted(path.glob("*.py")) if path.is_dir() else [path]):
            texts += _texts_of(file, names)
    return texts


def messages_path(lang: str = "zh") -> Path:
    return LOCALE / lang / "messages.json"


def _read_messages(lang: str) -> list[dict]:
    path = messages_path(lang)
    return json.loads(path.read_text(encoding="utf-8"))["entries"] if path.exists() else []


def extract_messages(lang: str = "zh") -> dict:
    """Add every new English text to ``messages.json``, carry translations forward; returns counts."""
    old = _read_messages(lang)
    by_english = {e["en"]: e for e in old}
    current: dict[str, list[str]] = {}
    for where, text in message_texts():
        current.setdefault(text, []).append(where)
    gone = {e["en"]: e for e in old if e["en"] not in current}
    gone_at = {w: e for e in gone.values() for w in e.get("where", [])}
    entries, added, changed = [], 0, 0
    for text, wheres in current.items():
        if text in by_english:
            e = dict(by_english[text])
            e.pop("unused", None)
        else:
            e = {"en": text, "zh": "", "stale": False}
            previous = next((gone_at[w] for w in wheres if w in gone_at and gone_at[w].get("zh")), None)
            if previous is not None:
                e.update(zh=previous["zh"], stale=True, was=previous.get("was", previous["en"]))
                previous["moved"] = True
                changed += 1
            else:
                added += 1
        e["where"] = wheres
        entries.append(e)
    for e in gone.values():
        if not e.pop("moved", False) and e.get("zh"):
            entries.append({**e, "unused": True})
    path = messages_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"lang": lang, "entries": entries}, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    used = [e for e in entries if not e.get("unused")]
    return {"entries": len(used), "added": added, "changed": changed,
            "translated": sum(1 for e in used if e["zh"] and not e["stale"]),
            "missing": sum(1 for e in used if not e["zh"]), "stale": sum(1 for e in used if e["zh"] and e["stale"]),
            "unused": len(entries) - len(used)}


def _field_names(text: str) -> set[str]:
    from course_lib.i18n import _expression, fields
    return {_expression(inner) for _s, _e, inner in fields(text)}


def message_problems(lang: str = "zh") -> list[str]:
    """One line per text of the code without a current translation in ``messages.json`` (or with a bad field)."""
    have = {e["en"]: e for e in _read_messages(lang) if not e.get("unused")}
    lines, seen = [], set()
    for where, text in message_texts():
        if text in seen:
            continue
        seen.add(text)
        e = have.get(text)
        if e is None:
            why = "not in messages.json (run extract-messages)"
        elif not e.get("zh"):
            why = "missing"
        elif e.get("stale"):
            why = "stale: its English changed since it was translated"
        elif _field_names(e["zh"]) - _field_names(text):
            why = f"the translation uses fields the English lacks: {sorted(_field_names(e['zh']) - _field_names(text))}"
        else:
            continue
        lines.append(f"messages {where}: {why}: “{_start(text)}”")
    return lines


def check(lang: str = "zh") -> list[str]:
    """Every problem of the chapters' catalogues and of the messages (empty: the edition is complete)."""
    return problems(lang) + message_problems(lang)


def _message_counts(lang: str) -> dict:
    have = {e["en"]: e for e in _read_messages(lang) if not e.get("unused")}
    texts = {text for _where, text in message_texts()}
    entries = [have.get(t, {"zh": "", "stale": False}) for t in texts]
    return _counts(entries)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.translate", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["extract", "status", "check", "build", "extract-messages"])
    parser.add_argument("--lang", default="zh")
    parser.add_argument("--out", type=Path, default=None, help="build: output folder (default student/<lang>/)")
    parser.add_argument("--force", action="store_true", help="build: overwrite existing notebooks (edits are lost)")
    parser.add_argument("--instructor", action="store_true", help="build: from the instructor notebooks (solutions)")
    args = parser.parse_args(argv)
    if args.lang == "en" or not re.fullmatch(r"[a-z]{2}(_[A-Za-z]+)?", args.lang):
        parser.error(f"--lang {args.lang}: give a translation's code, e.g. zh")
    if args.command == "build":
        written, kept = build(args.lang, args.out, force=args.force, instructor=args.instructor)
        for path in written:
            print(f"wrote {path}")
        for path in kept:
            print(f"kept {path}: it exists and may hold your work (--force overwrites it)")
        return 0
    if args.command == "extract-messages":
        counts = extract_messages(args.lang)
        print(f"{messages_path(args.lang).relative_to(ROOT)}: {counts['entries']} texts ({counts['added']} new, "
              f"{counts['changed']} changed and marked stale), {counts['translated']} translated, "
              f"{counts['missing']} missing, {counts['stale']} stale, {counts['unused']} unused")
        return 0
    if args.command == "check":
        lines = check(args.lang)
        for line in lines:
            print(line)
        print(f"{len(lines)} block(s) or message(s) without a current translation" if lines
              else f"the {args.lang} edition is complete: every block and message has a current translation")
        return 1 if lines else 0
    report = extract(args.lang) if args.command == "extract" else status(args.lang)
    report["messages"] = _message_counts(args.lang)
    for stem, counts in report.items():
        print(f"{stem:45} {counts['translated']:4}/{counts['entries']:<4} missing {counts['missing']:4}  stale {counts['stale']:4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
