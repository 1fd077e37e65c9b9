"""Offline slide decks of the chapters: ``python -m course_tools.slides build [--out slides/] [NOTEBOOK ...]``.

Each chapter becomes ``<out>/<chapter>.slides.html``, a reveal.js deck whose scripts, styles and
fonts (reveal.js 4.0.2, the version nbconvert 7's reveal template is written for; MathJax 2.7.9,
which that template configures; require.js; jQuery) are copied with their licences into
``<out>/lib/`` from ``docs/node_modules`` (``npm ci --prefix docs``). A deck loads nothing from
the network. The deck is built from a copy of the notebook, never the notebook itself:

* slide roles come from :func:`course_tools.slides.annotate` (solutions and checks are skipped);
* a widget has no kernel in a deck: its PNG or HTML rendering is shown if the output has one,
  otherwise a one-line note that it is interactive in the notebook;
* a markdown cell over :data:`SLIDE_CHARS` characters is cut between paragraphs into several
  slides (continuations are sub-slides), so no slide runs off the projector;
* relative links are re-aimed from the deck's folder, and a link to a chapter opens that chapter's deck.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nbformat

from course_lib.environment import REPO_ROOT


__all__ = ["SLIDE_CHARS", "NOTE", "DeckError", "split_markdown", "static_widgets", "deck_notebook",
           "deck_links", "copy_assets", "build"]

SLIDE_CHARS = 1500
NOTE = "interactive in the notebook"
NODE_MODULES = REPO_ROOT / "docs" / "node_modules"
WIDGET = "application/vnd.jupyter.widget-view+json"

# (package folder in docs/node_modules, paths copied from it, folder under lib/); its LICENSE and package.json go too
ASSETS = [
    ("reveal.js", ["dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "dist/theme/fonts/source-sans-pro",
                   "plugin/notes/notes.js"], "reveal.js"),
    ("mathjax-2", ["MathJax.js", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions", "jax/input/TeX",
                   "jax/output/CommonHTML", "jax/element", "fonts/HTML-CSS/TeX/woff", "fonts/HTML-CSS/TeX/otf"],
     "mathjax"),
    ("requirejs", ["require.js"], "requirejs"),
    ("jquery", ["dist/jquery.min.js"], "jquery"),
]

# nbconvert's reveal template without the two parts that would fetch from a CDN and have nothing to show here:
# mermaid (no chapter draws one) and the widget manager (a deck has no kernel; see static_widgets)
TEMPLATE = """{%- extends 'reveal/index.html.j2' -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


class DeckError(ValueError):
    """A deck cannot be built (the scripts are not installed, or a notebook is missing)."""


_FENCE = re.compile(r"^\s*(```|~~~)")


def _blocks(source: str) -> list[str]:
    """``source`` cut at blank lines that are outside fenced code."""
    blocks, current, fenced = [], [], False
    for line in source.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def split_markdown(source: str, limit: int = SLIDE_CHARS) -> list[str]:
    """``source`` as consecutive parts of at most ``limit`` characters, cut between paragraphs only
    (a single paragraph longer than ``limit`` stays whole)."""
    if len(source) <= limit:
        return [source]
    parts, current = [], ""
    for block in _blocks(source):
        if current and len(current) + 2 + len(block) > limit:
            parts.append(current)
            current = block
        else:
            current = f"{current}\n\n{block}" if current else block
    if current:
        parts.append(current)
    return parts


def static_widgets(cell) -> None:
    """Replace each widget view among ``cell``'s outputs by its PNG/HTML rendering, or by the note."""
    outputs = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET not in data:
            outputs.append(output)
            continue
        kept = {mime: data[mime] for mime in ("image/png", "text/html") if mime in data}
        if not kept:
            kept = {"text/html": f"<p><em>({NOTE})</em></p>", "text/plain": f"({NOTE})"}
        outputs.append(nbformat.v4.new_output("display_data", data=kept, metadata=output.get("metadata", {})))
    if "outputs" in cell:
        cell.outputs = outputs


def deck_notebook(nb):
    """The copy of ``nb`` a deck is made from (see the module docstring); ``nb`` is not changed."""
    from .slides import annotate
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    annotate(nb)
    nb.metadata.pop("widgets", None)
    cells = []
    for cell in nb.cells:
        role = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if cell.cell_type == "code":
            static_widgets(cell)
        if cell.cell_type != "markdown" or role == "skip":
            cells.append(cell)
            continue
        for k, part in enumerate(split_markdown(cell.source)):
            piece = nbformat.from_dict(json.loads(json.dumps(cell)))
            piece.source = part
            if k:
                piece.id = f"{cell.get('id', 'cell')}-{k}"
                piece.metadata["slideshow"] = {"slide_type": "subslide"}
            cells.append(piece)
    nb.cells = cells
    return nb


_LINK = re.compile(r"\]\((?!(?:[a-z][a-z0-9+.-]*:|#|/))([^)\s#]+)(#[^)\s]*)?\)", re.IGNORECASE)


def deck_links(nb, source: Path, out: Path) -> None:
    """Re-aim ``nb``'s relative markdown links, written for the notebook at ``source``, from the folder ``out``;
    a link to a chapter (``NN_name.ipynb``) becomes one to its deck, ``NN_name.slides.html``."""
    here, out = Path(source).resolve().parent, Path(out).resolve()

    def aim(match):
        target, anchor = here / match.group(1), match.group(2) or ""
        if target.suffix == ".ipynb" and target.parent == here:
            return f"]({target.stem}.slides.html{anchor})"
        return f"]({Path(os.path.relpath(target.resolve(), out)).as_posix()}{anchor})"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _LINK.sub(aim, cell.source)


def copy_assets(out: Path, node_modules: Path = NODE_MODULES) -> Path:
    """Copy the decks' scripts, styles, fonts and their licences into ``out/lib``; returns that folder."""
    lib = Path(out) / "lib"
    for package, paths, folder in ASSETS:
        source = Path(node_modules) / package
        if not source.is_dir():
            raise DeckError(f"{source} is missing: run `npm ci --prefix docs` once (the decks' scripts come from it)")
        # the licence text, and package.json (name, version, licence; require.js keeps its notice in the file)
        licences = sorted(p.name for p in source.glob("LICENSE*")) + ["package.json"]
        for rel in paths + licences:
            src, dst = source / rel, lib / folder / rel
            if not src.exists():
                raise DeckError(f"{src} is missing: run `npm ci --prefix docs` again")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)
    return lib


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter
    return SlidesExporter(
        extra_loaders=[DictLoader({"course_deck.html.j2": TEMPLATE})], template_file="course_deck.html.j2",
        reveal_url_prefix="lib/reveal.js", reveal_theme="white",
        require_js_url="lib/requirejs/require.js", jquery_url="lib/jquery/dist/jquery.min.js",
        mathjax_url="lib/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe")


def build(paths=None, out: Path | None = None) -> list[Path]:
    """Write one offline deck per notebook (default: every chapter) into ``out`` (default ``slides/``)."""
    out = Path(out) if out is not None else REPO_ROOT / "slides"
    paths = [Path(p) for p in paths] if paths else sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    notebooks = []
    for path in paths:                # every notebook is read before anything is written
        if not path.is_file():
            raise DeckError(f"no such notebook: {path}")
        try:
            notebooks.append((path, nbformat.read(path, as_version=4)))
        except Exception as error:   # not JSON, not a notebook: one line saying which file
            raise DeckError(f"{path} is not a notebook ({type(error).__name__})") from None
    copy_assets(out)
    exporter, written = _exporter(), []
    for path, nb in notebooks:
        deck = deck_notebook(nb)
        deck_links(deck, path, out)
        body, _ = exporter.from_notebook_node(deck, resources={"metadata": {"name": path.stem}})
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written
