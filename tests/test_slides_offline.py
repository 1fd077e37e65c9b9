"""Offline slide decks (``python -m course_tools.slides build``): built, opened in Debian's Chromium with every
request checked, initialised, math typeset; long cells split, widgets shown statically; a readable CLI."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_tools import slide_deck, slides

ROOT = Path(__file__).parent.parent
CHAPTER = ROOT / "notebooks" / "02_hashing_and_integrity.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
needs_scripts = pytest.mark.skipif(not (slide_deck.NODE_MODULES / "reveal.js").is_dir(),
                                   reason="run `npm ci --prefix docs` (the decks' scripts come from it)")


def _small_notebook():
    """Math, a widget with no static rendering, one with a PNG, and a markdown cell of about 3,000 characters."""
    nb = nbformat.v4.new_notebook()
    paragraph = "A paragraph about shares and masks, long enough to fill a line of a slide. " * 4
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Test deck\n\nInline math $a + b \\equiv s \\pmod{2^{64}}$ and display\n\n"
                                      "$$x = \\sum_i x_i$$"),
        nbformat.v4.new_code_cell("import course_lib as cl"),
        nbformat.v4.new_markdown_cell("## A long section\n\n" + "\n\n".join([paragraph] * 10)),
        nbformat.v4.new_code_cell("cl.widgets.something()", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/plain": "Viewer(3 parties)", slide_deck.WIDGET: {"model_id": "abc"}})]),
        nbformat.v4.new_code_cell("cl.widgets.picture()", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/plain": "Picture()", "image/png": "iVBORw0KGgo=",
                                  slide_deck.WIDGET: {"model_id": "def"}})]),
    ]
    return nb


def test_a_long_markdown_cell_becomes_several_slides_without_losing_text():
    deck = slide_deck.deck_notebook(_small_notebook())
    long = [c for c in deck.cells if c.cell_type == "markdown" and "shares and masks" in c.source]
    assert len(long) >= 2 and all(len(c.source) <= slide_deck.SLIDE_CHARS for c in long)
    assert long[0].metadata.slideshow.slide_type == "slide"
    assert all(c.metadata.slideshow.slide_type == "subslide" for c in long[1:])
    assert "\n\n".join(c.source for c in long) == _small_notebook().cells[2].source
    assert len({c.id for c in deck.cells}) == len(deck.cells)


def test_a_paragraph_is_never_cut_and_fenced_code_stays_whole():
    fence = "```python\n" + "\n\n".join(f"x{i} = {i}" for i in range(400)) + "\n```"
    parts = slide_deck.split_markdown("Intro.\n\n" + fence + "\n\nAfter.")
    assert any(fence in p for p in parts)
    assert slide_deck.split_markdown("short") == ["short"]


def test_every_chapter_deck_keeps_slides_under_the_limit_and_the_notebook_untouched():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = json.dumps(nb, sort_keys=True)
        deck = slide_deck.deck_notebook(nb)
        assert json.dumps(nb, sort_keys=True) == before, f"{path.name}: the deck build changed the notebook"
        for cell in deck.cells:
            if cell.cell_type == "markdown" and cell.metadata.slideshow.slide_type != "skip":
                # longer only if one paragraph alone is longer
                assert len(cell.source) <= slide_deck.SLIDE_CHARS or len(slide_deck._blocks(cell.source)) == 1, \
                    (path.name, cell.source[:60])
            for output in cell.get("outputs", []):
                assert slide_deck.WIDGET not in output.get("data", {}), path.name


def test_widgets_are_shown_by_their_static_rendering_or_a_note():
    deck = slide_deck.deck_notebook(_small_notebook())
    code = {c.source: c for c in deck.cells if c.cell_type == "code"}
    note, picture = code["cl.widgets.something()"].outputs[0].data, code["cl.widgets.picture()"].outputs[0].data
    assert slide_deck.NOTE in note["text/html"] and slide_deck.WIDGET not in note
    assert picture == {"image/png": "iVBORw0KGgo="}


def test_no_solution_or_check_reaches_a_deck(tmp_path):
    nb = nbformat.read(CHAPTER, as_version=4)
    deck = slide_deck.deck_notebook(nb)
    shown = [c for c in deck.cells if c.metadata.slideshow.slide_type != "skip"]
    assert not any("BEGIN SOLUTION" in c.source or "cl.check." in c.source for c in shown)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "course_tools.slides", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_help_and_bad_input_give_one_readable_line(tmp_path, capsys):
    """``--help`` as a real command; each bad input through the command's own entry point, in this process."""
    shown = _run("--help")
    assert shown.returncode == 0 and "build" in shown.stdout and "annotate" in shown.stdout
    assert "Traceback" not in shown.stdout + shown.stderr
    (tmp_path / "broken.ipynb").write_text("{ not json")
    for args in (["build", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "out")],
                 ["build", str(tmp_path / "broken.ipynb"), "--out", str(tmp_path / "out")],
                 [str(tmp_path / "missing.ipynb")], ["build", "--colour", "red"], ["publish"]):
        with pytest.raises(SystemExit) as ended:
            slides.main(args)
        err = capsys.readouterr().err
        assert ended.value.code == 2, args
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"{slides.PROG}: error: "), err
    assert not (tmp_path / "out").exists(), "a failed build wrote files"


def test_a_build_without_the_npm_packages_says_what_to_run(tmp_path):
    with pytest.raises(slide_deck.DeckError, match="npm ci --prefix docs"):
        slide_deck.copy_assets(tmp_path, node_modules=tmp_path / "nothing")


@needs_scripts
def test_the_deck_names_only_local_files_and_carries_the_licences(tmp_path):
    (written,) = slide_deck.build([CHAPTER], tmp_path)
    html = written.read_text()
    import re
    for url in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert url.startswith(("lib/", "data:")), url
    assert "unpkg.com" not in html and "cdnjs" not in html and "cdn.jsdelivr" not in html
    for package in ("reveal.js", "mathjax", "requirejs", "jquery"):
        folder = tmp_path / "lib" / package
        assert (folder / "package.json").exists() and json.loads((folder / "package.json").read_text())["license"]
    assert (tmp_path / "lib" / "reveal.js" / "LICENSE").exists() and (tmp_path / "lib" / "mathjax" / "LICENSE").exists()
    assert "BEGIN SOLUTION" not in html


@needs_scripts
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("which", ["small", "chapter"])
def test_the_deck_opens_offline_in_chromium_and_typesets_math(tmp_path, which):
    api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")
    source = CHAPTER
    if which == "small":
        source = tmp_path / "small.ipynb"
        nbformat.write(_small_notebook(), source)
    (deck,) = slide_deck.build([source], tmp_path / "deck")
    outside, failed = [], []
    with api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()

            def route(r):
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()
            page.route("**/*", route)
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(deck.as_uri())
            # require.js hands Reveal to the deck's script (no global): reveal.js marks its root "ready" when done
            page.wait_for_function("() => document.querySelector('.reveal.ready') !== null", timeout=30_000)
            assert page.locator(".reveal .slides section").count() >= 3
            if which == "small":
                page.wait_for_function("() => document.querySelectorAll('.mjx-chtml').length >= 2", timeout=30_000)
                assert page.locator(".MJXc-display").count() >= 1, "display math was not typeset"
                assert page.get_by_text(slide_deck.NOTE).count() == 1
        finally:
            browser.close()
    assert not outside, f"the deck asked the network for {outside}"
    assert not failed, f"local files the deck needs are missing: {failed}"


def test_links_lead_to_the_other_decks_and_still_reach_the_repository_from_the_deck_folder(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "[next](03_public_key_crypto.ipynb#1.-RSA), [terms](../GLOSSARY.md), [web](https://example.org/a.md), "
        "[here](#Quiz)")])
    out = ROOT / "slides"
    slide_deck.deck_links(nb, CHAPTER, out)
    assert nb.cells[0].source == ("[next](03_public_key_crypto.slides.html#1.-RSA), [terms](../GLOSSARY.md), "
                                  "[web](https://example.org/a.md), [here](#Quiz)")
    nb.cells[0].source = "[terms](../GLOSSARY.md)"
    slide_deck.deck_links(nb, CHAPTER, tmp_path / "usb" / "decks")
    target = nb.cells[0].source[len("[terms]("):-1]
    assert ((tmp_path / "usb" / "decks") / target).resolve() == (ROOT / "GLOSSARY.md").resolve()
