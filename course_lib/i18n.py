"""The language the course's code speaks: checks, hints, tasks, quizzes (all chapters).

English by default. ``COURSE_LANG=zh`` in the environment (``python -m course_tools.lab --lang zh``
sets it for every kernel), or ``set_language("zh")`` in a running kernel, switches to Chinese.
Translations live in ``locale/<lang>/messages.json``, one entry per English text of the code,
keyed by that text; an entry whose English changed is stale and is not used (English is shown
instead), as is one not translated yet.

A text may be a template: the English of an f-string keeps its replacement fields as written
(``"opening with {label} must raise"``). :func:`translate` matches a finished message against the
templates, translates what each field received, and puts it into the Chinese template, which
uses the same fields in its own order.
"""
from __future__ import annotations

import ast
import json
import os
import re
from functools import lru_cache
from pathlib import Path

__all__ = ["LANGUAGES", "language", "set_language", "catalogue_path", "fields", "translate", "tr"]

LANGUAGES = {"en": "English", "zh": "中文"}
LOCALE = Path(__file__).resolve().parent.parent / "locale"
_chosen: str | None = None


def _normalise(code: str | None) -> str:
    code = (code or "").strip().lower().replace("-", "_").split(".")[0]
    code = code.split("_")[0]
    return code if code in LANGUAGES else "en"


def language() -> str:
    """The language in use: the one ``set_language`` chose, else ``COURSE_LANG``, else English."""
    return _normalise(_chosen if _chosen is not None else os.environ.get("COURSE_LANG"))


def set_language(code: str | None) -> str:
    """Speak ``code`` ("en", "zh") in this process from now on; None goes back to ``COURSE_LANG``."""
    global _chosen
    if code is not None and _normalise(code) == "en" and not code.strip().lower().startswith("en"):
        raise ValueError(f"unknown language {code!r}: the course speaks {', '.join(LANGUAGES)}")
    _chosen = code
    return language()


def catalogue_path(lang: str) -> Path:
    return LOCALE / lang / "messages.json"


# ---------------------------------------------------------------- templates

def fields(template: str) -> list[tuple[int, int, str]]:
    """The replacement fields of ``template``: (start, end, text inside the braces); ``{{``/``}}`` are literal."""
    found, i, n = [], 0, len(template)
    while i < n:
        c = template[i]
        if c in "{}" and template[i:i + 2] in ("{{", "}}"):
            i += 2
            continue
        if c == "{":
            depth, j, quote = 1, i + 1, None
            while j < n and depth:
                d = template[j]
                if quote:
                    if d == "\\":
                        j += 1
                    elif d == quote:
                        quote = None
                elif d in "'\"":
                    quote = d
                elif d == "{":
                    depth += 1
                elif d == "}":
                    depth -= 1
                j += 1
            if depth:
                return found                    # unbalanced: treat the rest as literal
            found.append((i, j, template[i + 1:j - 1]))
            i = j
            continue
        i += 1
    return found


def _literal(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


def _expression(field: str) -> str:
    """The expression of a field, without its conversion (``!r``) and format spec (``:.2f``)."""
    depth, quote = 0, None
    for k, c in enumerate(field):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c == "!" and field[k + 1:k + 2] != "=":
            return field[:k].strip()
        elif depth == 0 and c == ":" and not field[:k].rstrip().endswith("lambda"):
            return field[:k].strip()
    return field.strip()


class _Template:
    __slots__ = ("en", "zh", "regex", "names", "weight")

    def __init__(self, en: str, zh: str | None, helpers: dict[str, list[str]]):
        self.en, self.zh, self.names = en, zh, []
        parts, position = [], 0
        for start, end, inner in fields(en):
            parts.append(re.escape(_literal(en[position:start])))
            parts.append(self._field_pattern(_expression(inner), helpers))
            self.names.append(_expression(inner))
            position = end
        parts.append(re.escape(_literal(en[position:])))
        self.regex = re.compile("".join(parts), re.DOTALL)
        self.weight = len(_literal(re.sub(r"\{[^{}]*\}", "", en)))   # literal characters: the longest first

    @staticmethod
    def _field_pattern(expression: str, helpers: dict[str, list[str]]) -> str:
        try:
            node = ast.parse(expression, mode="eval").body
        except SyntaxError:
            return "(.*?)"
        if isinstance(node, ast.IfExp) and all(isinstance(x, ast.Constant) and isinstance(x.value, str)
                                               for x in (node.body, node.orelse)):
            words = sorted({node.body.value, node.orelse.value}, key=len, reverse=True)
            return "(" + "|".join(re.escape(w) for w in words) + ")"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            starts = helpers[node.func.id]          # what the helper's own texts begin with
            if starts and all(starts):
                return "(|(?:" + "|".join(re.escape(s) for s in sorted(set(starts), key=len, reverse=True)) + ").*?)"
        return "(.*?)"

    def render(self, values: list[str]) -> str:
        target = self.zh or self.en
        by_name = {}
        for name, value in zip(self.names, values):
            by_name.setdefault(name, value)
        out, position = [], 0
        for start, end, inner in fields(target):
            out.append(_literal(target[position:start]))
            out.append(by_name.get(_expression(inner), target[start:end]))
            position = end
        out.append(_literal(target[position:]))
        return "".join(out)


class _Catalogue:
    def __init__(self, entries: list[dict]):
        self.exact: dict[str, str | None] = {}
        helpers: dict[str, list[str]] = {}
        for e in entries:
            if e.get("unused"):
                continue
            self.exact[e["en"]] = e["zh"] if e.get("zh") and not e.get("stale") else None
            for where in e.get("where", []):
                scope = where.split(":", 1)[-1].split("#")[0]
                start = fields(e["en"])
                helpers.setdefault(scope, []).append(_literal(e["en"][:start[0][0]] if start else e["en"])[:12])
        self.templates = sorted((_Template(en, zh, helpers) for en, zh in self.exact.items()
                                 if fields(en) or len(en) >= 12),
                                key=lambda t: t.weight, reverse=True)
        self.templated = [t for t in self.templates if t.names]

    def translate(self, text: str, depth: int = 0) -> str:
        if not text or depth > 6:
            return text
        if text in self.exact:
            return self.exact[text] or text
        for template in self.templated:                     # the whole message is one template (with enough
            if template.weight < 12:                        # fixed text: "{first} and {second}" would match
                continue                                    # any sentence that contains " and ")
            m = template.regex.fullmatch(text)
            if m:
                return template.render([self.translate(g, depth + 1) for g in m.groups()])
        pieces = self._pieces(text, depth)
        if pieces is not None:
            return pieces
        for template in self.templated:                     # last, the short templates
            m = template.regex.fullmatch(text)
            if m:
                return template.render([self.translate(g, depth + 1) for g in m.groups()])
        return text

    def _pieces(self, text: str, depth: int):
        """A message assembled from pieces: the first long template found inside it, and the rest around it."""
        for template in self.templates:
            if template.weight < 12:
                break
            m = template.regex.search(text)
            if m and m.end() > m.start():
                inner = (template.render([self.translate(g, depth + 1) for g in m.groups()]) if template.names
                         else (template.zh or template.en))
                return (self.translate(text[:m.start()], depth + 1) + inner
                        + self.translate(text[m.end():], depth + 1))
        return None


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> _Catalogue:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return _Catalogue(data.get("entries", []))


@lru_cache(maxsize=4096)
def _translate(path: str, mtime: float, text: str) -> str:
    return _load(path, mtime).translate(text)


def translate(text: str, lang: str | None = None) -> str:
    """``text`` in ``lang`` (default: :func:`language`); English where no current translation exists."""
    lang = _normalise(lang) if lang else language()
    if lang == "en" or not isinstance(text, str) or not text:
        return text
    path = catalogue_path(lang)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return text
    try:
        return _translate(str(path), mtime, text)
    except (ValueError, KeyError):          # a catalogue being edited: English until it parses again
        return text


def tr(template: str, /, **values) -> str:
    """``template`` translated, then formatted with ``values`` (for the course's own fixed texts)."""
    lang = language()
    if lang == "en":
        return template.format(**values)
    path = catalogue_path(lang)
    try:
        catalogue = _load(str(path), path.stat().st_mtime)
    except (OSError, ValueError, KeyError):
        return template.format(**values)
    target = catalogue.exact.get(template) or template
    try:
        return target.format(**values)
    except (KeyError, IndexError, ValueError):
        return template.format(**values)
