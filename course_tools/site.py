"""The course as a static website: ``python -m course_tools.site build|check|bundle``.

``build [--out _site]`` makes the site from the committed, executed notebooks with Sphinx and
myst-nb (sources in ``docs/``, ``docs/conf.py``). It never re-executes the committed notebooks,
except in the *widget pass*: each edition's student version of a chapter (what a learner opens in
JupyterLab) runs unsolved in a temporary folder, in a fresh kernel, with widget state stored, so
that each page shows every widget's saved view (``application/vnd.jupyter.widget-state+json``,
drawn by a local copy of ``@jupyter-widgets/html-manager``). The pass runs only what the widgets
need (:func:`widget_program`: the chapter's cells through its last widget that shows computed
state, then its closing quiz); every other cell keeps its committed, nbval-tested output.
``--run-all`` runs every cell instead, which makes the pass *Run All* on every student version of
every edition (the tests use it). An unexpected error fails the build. ``--keep-executed DIR``
keeps the executed notebooks (``DIR/<lang>/<chapter>.ipynb``, outputs as run). ``--widgets
none`` skips the pass; ``--widgets 01,02`` runs it for those chapters only. The kernels talk over
Unix sockets where the system has them; the chapters' own MPC parties talk over loopback, so the
build needs no network beyond the machine itself.

Chapters are published as **student versions** (``course_tools.student``: solutions replaced by
stubs, exercise and check outputs cleared); the instructor guide is a page apart. Every script,
style sheet and font a page loads is served from ``_static/``: require.js, the widget manager and
MathJax are copied from the npm packages pinned in ``docs/package-lock.json`` (``npm ci --prefix
docs`` installs them once; the build itself downloads nothing).

Editions: English is the source; each other language of ``LANGUAGES`` is built into
``<out>/<code>/`` from the same notebooks, its chapters translated block by block from
``locale/<code>/<chapter>.json`` (``course_tools.translate``; a block without a current
translation stays English), its widget pass run with ``COURSE_LANG=<code>`` (so quizzes,
widgets and the cells the pass runs speak that language; a cell the pass skips shows the
committed English run's output), its home, instructor guide and glossary taken from
``README.<code>.md``, ``instructor/README.<code>.md`` and ``GLOSSARY.<code>.md`` where they
exist (else the English pages), and a language switch on every page leads to the same page in
the other edition. ``--language en`` builds the English edition alone.

``check [--site _site]`` verifies that every internal link and anchor of a built site resolves
(external links are listed, never fetched). ``bundle [--site _site] [--wheels DIR]`` writes one
archive for a USB stick: the site, the course's files, the offline install instructions and, if
given, a wheelhouse.
"""
from __future__ import annotations

import argparse
import html.parser
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from course_lib.environment import REPO_ROOT
from course_lib.i18n import translate
from course_tools import executor
from course_tools.student import student_notebook
from course_tools.translate import translated_notebook


__all__ = ["SiteError", "DOCS", "LANGUAGES", "SPHINX_LANGUAGE", "VENDOR", "WIDGET_NOTE", "NO_STATE_NOTE", "vendor_files",
           "execute_with_widgets", "edition_notebook", "chapter_page", "security_model", "prepare_sources", "build", "broken_links",
           "external_links", "bundle", "main"]

DOCS = REPO_ROOT / "docs"
NODE_MODULES = DOCS / "node_modules"
NOTEBOOKS = REPO_ROOT / "notebooks"
# English is the source; a translated edition is built from the catalogues in locale/<code>/
# (course_tools.translate) into <out>/<code>/ and joins the language switch once it is listed here.
LANGUAGES = {"en": "English", "zh": "中文"}
SPHINX_LANGUAGE = {"en": "en", "zh": "zh_CN"}          # Sphinx's own words (search, navigation) in each edition
# what _static/vendor/ gets: target -> (npm package, path inside it, licence file inside the package)
VENDOR = {
    "require.js": ("requirejs", "require.js", "package.json"),
    "html-manager": ("@jupyter-widgets/html-manager", "dist", "package.json"),
    "mathjax": ("mathjax", "es5", "package.json"),
}
WIDGET_NOTE = ("> **On this page** the widget above shows the view saved when the chapter ran; its buttons "
               "and sliders need a Python kernel, so they have no effect here: open the chapter in JupyterLab to use them.")
NO_STATE_NOTE = ("> **A widget is here** in the notebook; this build of the site skipped its widget pass "
                 "(`python -m course_tools.site build --widgets all` saves its view).")
SITE_TITLE = "Cryptography for Deep Learning"                  # the site's name in each edition
SECURITY_MODEL_TITLE = "Security model"
TOCTREE_CAPTIONS = ("Chapters", "Reference", "For instructors", "For maintainers")   # the home's navigation
SECURITY_MODEL_INTRO = ("Each chapter states, near its top, who is trusted with what, what the attacker can do and what "
                        "the chapter's code does *not* protect, then lists what its code guarantees and under which "
                        "assumptions; every item names the test in `tests/` that performs the attack and asserts the "
                        "refusal. This page gathers those boxes, word for word, from the chapters.")
SECURITY_MODEL_MAP = "*No threat-model box of its own: this chapter maps the threats that the others answer.*"
SECURITY_MODEL_NONE = "*This chapter has no threat-model box.*"
SECURITY_MODEL_FROM = "From [chapter {number}]({link})."
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LONGEST_FIRST = ("08", "10", "11", "09", "01", "03")      # the widget pass starts the slow chapters first
# Chapters that start process groups (MPC parties) of their own: each later edition waits behind the
# next chapter's editions, so that two such groups never share the cores (the thread share of
# _execute_one is what took chapter 08 from 95-150 s per edition to 48-61 s; docs/benchmarks.md).
PROCESS_CHAPTERS = ("08",)
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")


class SiteError(RuntimeError):
    """The site cannot be built or checked (missing packages, a failed widget pass, broken links)."""


# ---------------------------------------------------------------- static files

def vendor_files(node_modules: Path = NODE_MODULES) -> dict[str, Path]:
    """The npm files each ``_static/vendor/`` entry is copied from; :class:`SiteError` if one is missing."""
    found, missing = {}, []
    for target, (package, inner, _licence) in VENDOR.items():
        path = node_modules / package / inner
        (found.__setitem__(target, path) if path.exists() else missing.append(f"{package}/{inner}"))
    if missing:
        raise SiteError(f"the site's scripts are not installed ({', '.join(missing)} missing in "
                        f"{node_modules}): run `npm ci --prefix docs` once (it needs the npm registry; "
                        "the build itself needs no network)")
    return found


def _licence_text(package_dir: Path, source: Path) -> str:
    """The package's name, version and licence (its package.json), then every licence file it ships."""
    meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    text = [f"{meta['name']} {meta['version']}, licence {meta.get('license', 'see below')} "
            f"(npm package; {meta.get('homepage', '')})\n"]
    files = sorted(package_dir.glob("LICEN[CS]E*")) + sorted(package_dir.glob("dist/*LICENSE*"))
    for path in files:
        text.append(f"--- {path.relative_to(package_dir)}\n{path.read_text(encoding='utf-8', errors='replace')}")
    if not files:                               # the licence is stated in the script's own header
        header = re.match(r"\s*/\*.*?\*/", source.read_text(encoding="utf-8"), re.S) if source.is_file() else None
        text.append(f"--- the header of {source.name}\n{header.group(0) if header else '(none)'}\n")
    return "\n".join(text)


def _copy_vendor(static: Path, node_modules: Path) -> None:
    vendor = static / "vendor"
    for target, source in vendor_files(node_modules).items():
        package, inner, _licence = VENDOR[target]
        folder = vendor / (target if source.is_dir() else Path(target).stem)
        if source.is_dir():
            shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.map", "embed.js", "libembed-amd.js",
                                                                           "node-main.js"))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / source.name)
        (folder / "LICENSE.txt").write_text(_licence_text(node_modules / package, source), encoding="utf-8")


# ---------------------------------------------------------------- the widget pass

# A widget cell that needs nothing but the chapter's first cell (its imports): the closing quiz.
_STANDALONE_WIDGET = re.compile(r'^\s*cl\.quiz\.for_chapter\("\d\d"\)\s*$')


def widget_program(nb) -> list[int]:
    """The indices of the code cells of ``nb`` that the widget pass runs: every code cell from the
    first through the last cell that draws a widget from what the chapter computed before it, then
    each later widget cell that stands alone (a quiz). Which cells draw widgets is read from the
    committed outputs; the cells after the last stateful widget only print, so their committed
    (nbval-tested) outputs are what the page shows."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    if not code:
        return []
    widgets = [i for i in code if _has_widget(nb.cells[i])]
    standalone = {i for i in widgets if _STANDALONE_WIDGET.match(nb.cells[i].source)}
    cut = max([i for i in widgets if i not in standalone], default=code[0])
    return [i for i in code if i <= cut or i in standalone]


def execute_with_widgets(path: str | os.PathLike, workdir: str | os.PathLike, timeout: int = 600,
                         cells: list[int] | None = None):
    """Run a copy of the notebook at ``path`` in a fresh kernel, cwd ``workdir``; keep the widget state.

    ``cells``: the indices of the code cells to run, in order (default: all); the others keep the
    outputs the file has. Returns the notebook with its run cells' outputs (the file is not
    touched). Raises :class:`SiteError` if a cell raised an error it does not announce with
    ``# NBVAL_RAISES_EXCEPTION``.
    """
    whole = nbformat.read(path, as_version=4)
    nb = whole
    if cells is not None:
        nb = nbformat.v4.new_notebook(metadata=whole.metadata)
        nb.cells = [whole.cells[i] for i in cells]       # the same cell objects: their outputs land in ``whole``
    sockets = Path(tempfile.mkdtemp(prefix="kernel-"))
    # Unix sockets where there are any: the kernel then needs no network interface, not even loopback
    km = (KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "k")) if os.name == "posix"
          else KernelManager(kernel_name="python3"))
    try:
        NotebookClient(nb, km=km, timeout=timeout, allow_errors=True, store_widget_state=True, record_timing=False,
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    problems = executor._problems(nb)
    if problems:
        raise SiteError(f"widget pass: {Path(path).name} has unexpected errors:\n" + "\n\n".join(problems))
    widgets = nb.metadata.get("widgets")
    executor.clean(whole)                       # the course's scrubbing of outputs; it also drops the state ...
    if widgets:
        whole.metadata["widgets"] = widgets     # ... which the site keeps
    return whole


def edition_notebook(path: Path, lang: str):
    """What a learner of edition ``lang`` opens: the student version of chapter ``path``, translated."""
    nb = student_notebook(nbformat.read(path, as_version=4))
    return nb if lang == "en" else translated_notebook(nb, path.stem, lang)


THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _execute_one(args):
    path, workdir, lang, threads, run_all = args
    for name in THREAD_SETTINGS:                # ``jobs`` kernels share the cores: a share each, so that no
        os.environ[name] = str(threads)         # kernel's spinning math threads take the others' cores
    if lang != "en":
        os.environ["COURSE_LANG"] = lang        # this worker's kernels speak the edition's language
    else:
        os.environ.pop("COURSE_LANG", None)
    start = time.perf_counter()
    cells = None if run_all else widget_program(nbformat.read(path, as_version=4))
    nb = execute_with_widgets(path, workdir, cells=cells)
    return path, nbformat.writes(nb), time.perf_counter() - start


def _widget_pass(chapters: list[Path], workdir: Path, jobs: int, languages=("en",), run_all: bool = False
                 ) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], float]]:
    """Execute each language's student version of ``chapters`` in ``workdir/<lang>`` (its
    :func:`widget_program`, or every cell with ``run_all``), ``jobs`` at a time:
    {(lang, name): notebook JSON}, {(lang, name): seconds}."""
    copies, threads = [], max(1, (os.cpu_count() or 1) // max(1, jobs))
    for lang in languages:
        (workdir / lang).mkdir(parents=True, exist_ok=True)
        for path in chapters:
            nbformat.write(edition_notebook(path, lang), workdir / lang / path.name)
            copies.append((str(workdir / lang / path.name), str(workdir / lang), lang, threads, run_all))

    def order(copy):
        number, lang = Path(copy[0]).name[:2], copy[2]
        place = LONGEST_FIRST.index(number) if number in LONGEST_FIRST else len(LONGEST_FIRST)
        later_edition = number in PROCESS_CHAPTERS and lang != languages[0]
        return place + 1.5 if later_edition else place
    copies.sort(key=order)
    texts, seconds = {}, {}
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        for (path, text, taken), (_p, _w, lang, _t, _a) in zip(pool.map(_execute_one, copies), copies):
            texts[lang, Path(path).name], seconds[lang, Path(path).name] = text, taken
    return texts, seconds


# ---------------------------------------------------------------- pages

def _has_widget(cell) -> bool:
    return any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", []))


def _note(text: str, key: str):
    cell = nbformat.v4.new_markdown_cell(text)
    cell.id = key
    return cell


def chapter_page(nb, lang: str = "en", stem: str | None = None, *, edition: bool = False):
    """The page version of an executed chapter: the student version (exercise and check outputs
    cleared), with a one-line note after every widget (its controls need a kernel) and a placeholder
    where no widget state was saved; for another ``lang``, its markdown translated from chapter
    ``stem``'s catalogue, unless ``edition`` says ``nb`` is that language's student version already."""
    page = student_notebook(nb)
    if lang != "en" and not edition:
        page = translated_notebook(page, stem, lang)
    has_state = bool(page.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state"))
    cells = []
    for index, cell in enumerate(page.cells):
        cells.append(cell)
        if cell.cell_type == "code" and _has_widget(cell):
            if has_state:
                cells.append(_note(translate(WIDGET_NOTE, lang), f"site-widget-note-{index}"))
            else:   # without saved state the manager would draw nothing: say so instead
                cell.outputs = [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]
                cells.append(_note(translate(NO_STATE_NOTE, lang), f"site-widget-note-{index}"))
    page.cells = cells
    return page


def _header_paragraphs(nb) -> list[str]:
    text = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(r"^## ", cell.source, re.M):
            break
        if cell.cell_type == "markdown":
            text.append(cell.source)
    return re.split(r"\n\s*\n", "\n\n".join(text))


def security_model(notebooks: list[Path], lang: str = "en") -> str:
    """The security-model page: each chapter's threat-model box and guarantee list, gathered
    (in ``lang``: the chapters' translated boxes, where they are translated)."""
    parts = [f"# {translate(SECURITY_MODEL_TITLE, lang)}", "", translate(SECURITY_MODEL_INTRO, lang), ""]
    for path in notebooks:
        english = nbformat.read(path, as_version=4)
        nb = english if lang == "en" else translated_notebook(english, path.stem, lang)
        title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
        # the boxes are found in the English, then taken from the same place of the translation
        spots = [k for k, p in enumerate(_header_paragraphs(english))
                 if p.lstrip().startswith(("> **Threat model", "> **What this chapter's code guarantees"))]
        paragraphs = _header_paragraphs(nb)
        boxes = [paragraphs[k].strip() for k in spots if k < len(paragraphs)]
        parts += [f"## {title}", "", translate(SECURITY_MODEL_FROM, lang).format(
            number=path.name[:2], link=f"chapters/{path.stem}.ipynb"), ""]
        parts += [box + "\n" for box in boxes] or [
            translate(SECURITY_MODEL_MAP, lang) if path.name.startswith("00") else translate(SECURITY_MODEL_NONE, lang),
            ""]
    return "\n".join(parts) + "\n"


def _rewrite_links(text: str, pages: dict[str, str], here: str) -> str:
    """Point links at the site's pages; a link to a repository file that is not a page becomes its text."""
    def fix(match):
        words, target = match.groups()
        if urlsplit(target).scheme or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(here), path))
        if resolved in pages:
            page = os.path.relpath(pages[resolved], os.path.dirname(pages[here]) or ".")
            return f"[{words}]({page}{'#' + anchor if anchor else ''})"
        return words                           # not part of the site: keep the words, drop the link
    return _LINK.sub(fix, text)


def _edition_file(repo_path: str, lang: str) -> str:
    """``README.zh.md`` for ``README.md`` in edition ``zh``, where that file exists; else the English."""
    if lang == "en":
        return repo_path
    stem, dot, suffix = repo_path.rpartition(".")
    translated = f"{stem}.{lang}.{suffix}"
    return translated if (REPO_ROOT / translated).exists() else repo_path


def prepare_sources(src: Path, chapter_notebooks: dict[str, object], node_modules: Path = NODE_MODULES,
                    lang: str = "en") -> None:
    """Lay out the Sphinx source folder ``src`` of edition ``lang``: docs/, the chapters, the glossary,
    the instructor guide, the security model and the vendored scripts."""
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("node_modules", "_build", "package*.json", *LANGUAGES))
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    # repository path -> page path in the site's sources (both relative to their roots)
    pages = {f"notebooks/{p.name}": f"chapters/{p.name}" for p in notebooks}
    pages.update({"GLOSSARY.md": "glossary.md", "instructor/README.md": "instructor.md", "README.md": "index.md"})
    for code in LANGUAGES:                      # a translated front door links like the English one
        pages.update({f"README.{code}.md": "index.md", f"instructor/README.{code}.md": "instructor.md",
                      f"GLOSSARY.{code}.md": "glossary.md"})
    pages.update({f"docs/{p.relative_to(DOCS)}": str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")
                  if "node_modules" not in p.parts and p.relative_to(DOCS).parts[0] not in LANGUAGES})
    for repo_path, page in (("GLOSSARY.md", "glossary.md"), ("instructor/README.md", "instructor.md")):
        source = _edition_file(repo_path, lang)
        (src / page).write_text(_rewrite_links((REPO_ROOT / source).read_text(encoding="utf-8"), pages, source),
                                encoding="utf-8")
    done = {src / "glossary.md", src / "instructor.md"}
    if lang != "en":
        home = _edition_file("README.md", lang)
        translated_docs = DOCS / lang
        for page in (translated_docs.rglob("*.md") if translated_docs.is_dir() else []):
            target = src / page.relative_to(translated_docs)            # docs/<lang>/x.md replaces docs/x.md
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(page, target)
        if home != "README.md" and not (translated_docs / "index.md").exists():
            (src / "index.md").write_text(_toctree_of(src / "index.md", _rewrite_links(
                (REPO_ROOT / home).read_text(encoding="utf-8"), pages, home), lang), encoding="utf-8")
            done.add(src / "index.md")
    for page in src.rglob("*.md"):
        repo_path = f"docs/{page.relative_to(src)}"
        if repo_path in pages and page not in done:
            page.write_text(_rewrite_links(page.read_text(encoding="utf-8"), pages, repo_path), encoding="utf-8")
    if lang != "en":
        (src / "index.md").write_text(_translate_captions((src / "index.md").read_text(encoding="utf-8"), lang),
                                      encoding="utf-8")
    (src / "security-model.md").write_text(security_model(notebooks, lang), encoding="utf-8")
    (src / "chapters").mkdir()
    for path in notebooks:
        executed = chapter_notebooks.get(path.name)
        page = chapter_page(executed or nbformat.read(path, as_version=4), lang, path.stem, edition=bool(executed))
        for cell in page.cells:
            if cell.cell_type == "markdown":
                cell.source = _rewrite_links(cell.source, pages, f"notebooks/{path.name}")
        nbformat.write(page, src / "chapters" / path.name)
    _copy_vendor(src / "_static", node_modules)
    _edition_settings(src, lang)


def _toctree_of(english_index: Path, text: str, lang: str) -> str:
    """``text`` (a translated front door) with the English home page's tables of contents appended,
    so that the edition has the same pages in its navigation."""
    english = english_index.read_text(encoding="utf-8")
    trees = re.findall(r"^(```\{toctree\}.*?^```)\s*$", english, re.M | re.S)
    return text.rstrip() + "\n\n" + "\n\n".join(trees) + "\n" if trees else text


def _translate_captions(text: str, lang: str) -> str:
    return re.sub(r"^(:caption:\s*)(.+)$", lambda m: m.group(1) + translate(m.group(2).strip(), lang), text, flags=re.M)


def _edition_settings(src: Path, lang: str) -> None:
    """Append to the sources' conf.py: the edition's language and the switch's links."""
    switch = [(code, name, ("" if code == lang else ("../" if lang != "en" else "") + ("" if code == "en" else f"{code}/")))
              for code, name in LANGUAGES.items()]
    with open(src / "conf.py", "a", encoding="utf-8") as conf:
        conf.write(f"\n# written by course_tools.site for this edition\nlanguage = {SPHINX_LANGUAGE.get(lang, lang)!r}\n"
                   f"html_context = {{**html_context, 'languages': {switch!r}, 'edition': {lang!r}}}\n"
                   f"html_title = {translate(SITE_TITLE, lang)!r}\n")


# ---------------------------------------------------------------- build

def _chapters(selection: str) -> list[Path]:
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    if selection == "all":
        return notebooks
    if selection == "none":
        return []
    wanted = {s.strip().zfill(2) for s in selection.split(",") if s.strip()}
    unknown = wanted - {p.name[:2] for p in notebooks}
    if unknown:
        raise SiteError(f"--widgets: no chapter {', '.join(sorted(unknown))} (give all, none, or numbers like 01,02)")
    return [p for p in notebooks if p.name[:2] in wanted]


def build(out: str | os.PathLike = "_site", *, widgets: str = "all", jobs: int = 2, language: str = "all",
          keep_executed: str | os.PathLike | None = None, run_all: bool = False, node_modules: Path = NODE_MODULES,
          log=print
          ) -> dict[str, float]:
    """Build the site into ``out`` (replaced): every edition (``language="all"``), or one
    (English into ``out``, another into ``out/<code>``); returns the seconds each step took (and each
    chapter's, as ``"run <lang> <chapter>"``). ``keep_executed``: a folder that receives the widget
    pass's executed notebooks, as ``<lang>/<chapter>.ipynb``. ``run_all``: the widget pass runs every
    cell of each student version, not only its :func:`widget_program` (the tests' check that each runs
    all unsolved)."""
    if language != "all" and language not in LANGUAGES:
        raise SiteError(f"language {language!r} is not one of the site's editions ({', '.join(LANGUAGES)}, or all)")
    editions = list(LANGUAGES) if language == "all" else [language]
    vendor_files(node_modules)                              # fail before the slow part
    out = Path(out).resolve()
    times: dict[str, float] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        tmp = Path(tmp)
        chapters = _chapters(widgets)
        executed: dict[tuple[str, str], object] = {}
        if chapters:
            (tmp / "run").mkdir()
            texts, seconds = _widget_pass(chapters, tmp / "run", jobs, editions, run_all)
            executed = {key: nbformat.reads(text, as_version=4) for key, text in texts.items()}
            times["widget pass"] = time.perf_counter() - start
            times.update({f"run {lang} {Path(name).stem}": taken for (lang, name), taken in seconds.items()})
            if keep_executed is not None:
                for (lang, name), text in texts.items():
                    (Path(keep_executed) / lang).mkdir(parents=True, exist_ok=True)
                    (Path(keep_executed) / lang / name).write_text(text, encoding="utf-8")
            log(f"widget pass: {len(chapters)} chapter(s) × {len(editions)} edition(s) in "
                f"{times['widget pass']:.1f} s ({', '.join(f'{n[:2]} {l} {s:.0f} s' for (l, n), s in sorted(seconds.items()))})")
        built = {}
        for lang in editions:
            step = time.perf_counter()
            src, build_dir, warnings = tmp / f"src-{lang}", tmp / f"html-{lang}", tmp / f"warnings-{lang}.txt"
            prepare_sources(src, {n: nb for (l, n), nb in executed.items() if l == lang}, node_modules, lang)
            command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(max(1, jobs)), "-w",
                       str(warnings), str(src), str(build_dir)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise SiteError(f"sphinx-build ({lang}) failed ({done.returncode}):\n{done.stderr[-4000:]}")
            problems = [line for line in warnings.read_text().splitlines() if line.strip()]
            if problems:
                raise SiteError(f"sphinx-build ({lang}) warned (the site must build cleanly):\n" + "\n".join(problems[:40]))
            times[f"sphinx {lang}"] = time.perf_counter() - step
            _fix_search_stemmer(build_dir)
            built[lang] = build_dir
        targets = {lang: out if lang == "en" else out / lang for lang in editions}
        if "en" in editions:
            shutil.rmtree(out, ignore_errors=True)
        for lang, build_dir in built.items():
            shutil.rmtree(targets[lang], ignore_errors=True)
            targets[lang].parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(build_dir, targets[lang], ignore=shutil.ignore_patterns(".doctrees", ".buildinfo"))
    times["total"] = time.perf_counter() - start
    log(f"site: {out} ({', '.join(editions)}; {times['total']:.1f} s in all; "
        + "; ".join(f"{k} {v:.1f} s" for k, v in times.items() if k.startswith("sphinx")) + ")")
    return times


def _fix_search_stemmer(build_dir: Path) -> None:
    """Sphinx 9.0's Chinese search data ships the English stemmer (for Latin words) but names a
    ``ChineseStemmer`` that does not exist, so the search page fails; point it at the one shipped."""
    data = build_dir / "_static" / "language_data.js"
    if data.exists():
        text = data.read_text(encoding="utf-8")
        if "window.Stemmer = ChineseStemmer;" in text and "ChineseStemmer=" not in text.replace(" ", ""):
            data.write_text(text.replace("window.Stemmer = ChineseStemmer;", "window.Stemmer = EnglishStemmer;"),
                            encoding="utf-8")


# ---------------------------------------------------------------- link check

class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name") if tag != "meta" else ():
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name) and not (tag == "link" and attrs.get("rel") in ("canonical",)):
                self.links.append(attrs[name])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _pages(site: Path) -> dict[Path, _Links]:
    return {p: _parse(p) for p in sorted(site.rglob("*.html"))}


def external_links(site: str | os.PathLike) -> list[str]:
    """Every link of the site that leaves it (listed, never fetched)."""
    return sorted({link for parsed in _pages(Path(site)).values() for link in parsed.links
                   if urlsplit(link).scheme in ("http", "https") or link.startswith("//")})


def broken_links(site: str | os.PathLike) -> list[str]:
    """Internal links and anchors of the built ``site`` that do not resolve, as "page: link" lines."""
    site = Path(site).resolve()
    pages = _pages(site)
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue                                # external (mailto:, http:, data:): not fetched
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if site not in target.parents and target != site:
                broken.append(f"{page.relative_to(site)}: {link} (outside the site)")
            elif not target.exists():
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no anchor #{parts.fragment})")
    return broken


# ---------------------------------------------------------------- bundle

OFFLINE = """\
Cryptography for Deep Learning: the offline bundle
===================================================

site/     the course's website: open site/index.html in a browser (no network needed), or serve it
          with `python3 -m http.server --directory site` and open http://127.0.0.1:8000/
course/   the course itself (notebooks, library, tests) as in the repository
wheels/   the Python packages, if the bundle was made with --wheels

Installing with no network (the "No Wi-Fi" section of the teaching page, site/teaching.html):
on a machine of the learners' platform (one per platform in the room), with network, in course/:

    python -m course_tools.wheelhouse --out ../wheels

It downloads every pinned package and setuptools (which installing the course's own package needs),
then checks that the folder alone is enough. It has no --platform option: pip resolves
dependencies for the machine it runs on, so a Mac's wheels downloaded on Linux fail.

then, on each learner's machine, from this folder:

    cd course && python3 -m venv .venv && . .venv/bin/activate
    pip install --no-index --find-links ../wheels/ -r requirements.txt
    python -m course_tools.lab
"""


def bundle(site: str | os.PathLike = "_site", out: str | os.PathLike = "course-offline.tar.gz",
           wheels: str | os.PathLike | None = None, log=print) -> Path:
    """Write one ``.tar.gz``: the built site, the course's tracked files, OFFLINE.txt and optional wheels."""
    site, out = Path(site), Path(out)
    if not (site / "index.html").exists():
        raise SiteError(f"no built site in {site}: run `python -m course_tools.site build --out {site}` first")
    if wheels is not None and not Path(wheels).is_dir():
        raise SiteError(f"--wheels {wheels}: not a folder (make it with `pip download -r requirements.txt -d DIR`)")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True)
    files = ([f for f in listed.stdout.split("\0") if f] if listed.returncode == 0 else None)
    if files is None:
        raise SiteError("the course's files are listed with `git ls-files`: run bundle inside the repository")
    root = "course-offline"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "OFFLINE.txt").write_text(OFFLINE, encoding="utf-8")
        partial = out.with_name(out.name + ".part")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(Path(tmp) / "OFFLINE.txt", f"{root}/OFFLINE.txt")
            archive.add(site, f"{root}/site")
            for name in files:
                if (REPO_ROOT / name).is_file():
                    archive.add(REPO_ROOT / name, f"{root}/course/{name}")
            if wheels is not None:
                archive.add(wheels, f"{root}/wheels")
        partial.replace(out)
    log(f"bundle: {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return out


# ---------------------------------------------------------------- command line

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.site", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="build the site from the executed notebooks (no network needed)")
    b.add_argument("--out", default="_site", help="output folder (replaced; default _site)")
    b.add_argument("--widgets", default="all", help="chapters whose widget views are saved: all (default), none, "
                                                    "or numbers like 01,02")
    b.add_argument("--jobs", type=int, default=2, help="chapters executed at once in the widget pass (default 2)")
    b.add_argument("--language", default="all", choices=["all", *sorted(LANGUAGES)],
                   help="edition to build: all (default: English in OUT, the others in OUT/<code>/) or one")
    b.add_argument("--keep-executed", default=None, metavar="DIR",
                   help="keep the widget pass's executed student versions in DIR/<lang>/ (outputs as run)")
    b.add_argument("--run-all", action="store_true",
                   help="run every cell of each student version in the widget pass, not only the cells its "
                        "widgets need (slower; checks that each runs all unsolved)")
    c = commands.add_parser("check", help="check every internal link and anchor of a built site")
    c.add_argument("--site", default="_site")
    u = commands.add_parser("bundle", help="one archive: the site, the course and the offline install instructions")
    u.add_argument("--site", default="_site")
    u.add_argument("--out", default="course-offline.tar.gz")
    u.add_argument("--wheels", default=None, help="a folder of wheels to include (pip download -r requirements.txt -d DIR)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.out, widgets=args.widgets, jobs=args.jobs, language=args.language,
                  keep_executed=args.keep_executed, run_all=args.run_all)
        elif args.command == "check":
            if not (Path(args.site) / "index.html").exists():
                raise SiteError(f"no built site in {args.site}")
            broken = broken_links(args.site)
            for line in broken:
                print(line)
            print(f"{len(broken)} broken internal link(s); {len(external_links(args.site))} external link(s) not fetched")
            return 1 if broken else 0
        else:
            bundle(args.site, args.out, args.wheels)
    except SiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
