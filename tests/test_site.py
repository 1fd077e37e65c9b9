"""The course's website: built once, with no network, then checked file by file and in a real browser.

The build (``python -m course_tools.site build``, every chapter's widget pass in both editions) runs
inside a network namespace whose only interface is loopback and which has no route (``unshare -n``,
as root) whenever the system allows it, so any download fails it. The browser
tests serve the built site from a local ``http.server`` on 127.0.0.1, open every page in Debian's
Chromium through Playwright, and route every request: one that is not for the local server fails
the test. The Chinese edition (``_site/zh/``) is built and checked alongside, its CJK text looked
at in the browser for missing glyphs. Screenshots go to the build's temporary folder (``SITE_SCREENSHOTS`` names another);
``SITE_TEST_BUILT=DIR`` runs the same checks on a site built before (``SITE_TEST_EXECUTED`` names its
``--keep-executed`` folder).
"""
import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_tools import site as course_site

from .run_all import assert_ran_all_unsolved

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHROMIUM = Path("/usr/bin/chromium")
# The test build runs the widget pass for every chapter with --run-all: every cell of every student
# version of every edition, unsolved, which is also the course's *Run All* test of them
# (tests/run_all.py). `build` by default runs only each chapter's widget_program (tested below).
TEST_WIDGETS = "all"
PAGES = ["index", "glossary", "instructor", "benchmarks", "container-format", "secure-computation",
         "security-model", "grading", "teaching", "testing", "search"]


# A network namespace whose only interface is loopback, brought up inside it (the chapters' MPC parties
# talk over 127.0.0.1): no other interface and no route, so nothing can reach beyond this machine.
OFFLINE = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]


def _offline_prefix() -> list[str] | None:
    """``OFFLINE`` where it works here (root on Linux, with ``ip``), checked without sending anything:
    inside it, loopback is the only interface and there is no route at all."""
    try:
        links = subprocess.run([*OFFLINE, "ip", "-o", "link"], capture_output=True, text=True, timeout=30)
        routes = subprocess.run([*OFFLINE, "ip", "-4", "route", "show", "table", "main"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [line.split(":")[1].strip() for line in links.stdout.splitlines() if ":" in line]
    if links.returncode or routes.returncode or names != ["lo"] or routes.stdout.strip():
        return None
    return OFFLINE


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    if os.environ.get("SITE_TEST_BUILT"):          # check a site built before (e.g. with --widgets all)
        out = Path(os.environ["SITE_TEST_BUILT"]).resolve()
        executed = os.environ.get("SITE_TEST_EXECUTED")     # ... and what its --keep-executed kept
        return {"out": out, "root": root, "offline": False, "seconds": 0.0, "log": "", "widgets": "all",
                "executed": Path(executed).resolve() if executed else None}
    out, executed = root / "_site", root / "executed"
    offline = _offline_prefix()
    command = [*(offline or []), sys.executable, "-m", "course_tools.site", "build", "--out", str(out),
               "--widgets", TEST_WIDGETS, "--run-all", "--keep-executed", str(executed)]
    start = time.perf_counter()
    build = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)              # its pool, kernels and parties: one group
    try:
        stdout, stderr = build.communicate(timeout=1800)
    finally:
        try:
            os.killpg(build.pid, 9)                               # whatever is left of the group, even on failure
        except ProcessLookupError:
            pass
    done = subprocess.CompletedProcess(command, build.returncode, stdout, stderr)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"the site build failed:\n{done.stdout}\n{done.stderr[-6000:]}"
    print(f"site built in {seconds:.0f} s ({'no network' if offline else 'network present'}): {done.stdout}")
    return {"out": out, "root": root, "offline": offline is not None, "seconds": seconds, "log": done.stdout,
            "widgets": TEST_WIDGETS, "executed": executed}


# ---------------------------------------------------------------- the files


def test_the_build_ran_with_no_network_at_all(built):
    if not built["offline"]:
        pytest.skip("unshare -n is not available here (needs root on Linux and ip); the build ran with the network")
    assert f"widget pass: {len(NOTEBOOKS)} chapter(s) × 2 edition(s)" in built["log"]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_student_version_of_every_edition_runs_all_unsolved(built, path, lang):
    """JupyterLab's Run All stops at the first error unless the cell is tagged raises-exception: the
    widget pass ran each edition's student version unsolved (zh under COURSE_LANG=zh) and kept it."""
    if built["executed"] is None:
        pytest.skip("SITE_TEST_EXECUTED does not name the build's --keep-executed folder")
    nb = nbformat.read(built["executed"] / lang / path.name, as_version=4)
    assert nb.metadata.get("language", "en") == lang
    assert_ran_all_unsolved(nb, lang)


def test_the_widget_program_runs_what_each_widget_needs_and_skips_only_what_prints():
    """Every widget cell is run; everything before the last widget that shows computed state is run;
    a cell after it is skipped only when it draws no widget, or is the closing quiz (which needs the
    first cell's imports alone, and the first cell is always run)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
        program = course_site.widget_program(nb)
        widgets = [i for i in code if course_site._has_widget(nb.cells[i])]
        assert program[0] == code[0] and set(widgets) <= set(program), path.stem
        stateful = [i for i in widgets if "quiz.for_chapter" not in nb.cells[i].source]
        if stateful:
            assert [i for i in code if i <= stateful[-1]] == [i for i in program if i <= stateful[-1]], path.stem
        assert program == sorted(program)
    eight = nbformat.read(NOTEBOOKS[8], as_version=4)
    assert len(course_site.widget_program(eight)) == 2         # chapter 08's only widget is its quiz


def test_a_partial_widget_pass_saves_every_view_and_keeps_the_other_cells_committed_outputs(tmp_path):
    source = NOTEBOOKS[7]                               # chapter 07: a share viewer at its top, a quiz at its end
    copy = tmp_path / source.name
    nbformat.write(course_site.edition_notebook(source, "en"), copy)
    before = nbformat.read(copy, as_version=4)
    program = course_site.widget_program(before)
    nb = course_site.execute_with_widgets(copy, tmp_path, cells=program)
    state = nb.metadata["widgets"][course_site.WIDGET_STATE]["state"]
    views = [o["data"][course_site.WIDGET_VIEW]["model_id"] for cell in nb.cells if cell.cell_type == "code"
             for o in cell.outputs if course_site.WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 2 and all(view in state for view in views)
    skipped = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and i not in program]
    assert skipped and all(nb.cells[i].outputs == before.cells[i].outputs for i in skipped)
    assert any(before.cells[i].outputs for i in skipped)


def test_a_page_made_by_the_default_widget_pass_carries_no_solution(tmp_path):
    """The default pass (not --run-all, which the build above uses) leaves the skipped cells their
    committed outputs: the page of chapter 02 still shows the stubs and none of the solution."""
    source = NOTEBOOKS[2]
    copy = tmp_path / source.name
    nbformat.write(course_site.edition_notebook(source, "en"), copy)
    nb = course_site.execute_with_widgets(copy, tmp_path, cells=course_site.widget_program(nbformat.read(copy, as_version=4)))
    text = nbformat.writes(course_site.chapter_page(nb, "en", source.stem, edition=True))
    assert "BEGIN SOLUTION" not in text and "merkle_root(leaves[:k])" not in text and "NotImplementedError" in text


def test_the_offline_build_makes_a_page_per_chapter_and_every_page(built):
    out = built["out"]
    for path in NOTEBOOKS:
        page = out / "chapters" / f"{path.stem}.html"
        assert page.exists(), f"no page for {path.name}"
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
        assert title.split(" · ", 1)[1] in page.read_text(encoding="utf-8"), f"{page.name} lacks its title"
    for name in PAGES:
        assert (out / f"{name}.html").exists(), f"no {name} page"
    assert (out / "searchindex.js").exists()
    home = (out / "index.html").read_text(encoding="utf-8")
    assert "python -m course_tools.lab" in re.sub(r"<[^>]+>", "", home)          # the quickstart
    assert home.count('href="chapters/') >= len(NOTEBOOKS)                        # the chapter map


def test_no_solution_reaches_the_chapter_pages(built):
    for path in NOTEBOOKS:
        text = (built["out"] / "chapters" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, f"a solution reached {path.stem}"
        if "BEGIN SOLUTION" in path.read_text(encoding="utf-8"):
            assert "NotImplementedError" in text, f"{path.stem}: the student stub is missing"
    chapter02 = (built["out"] / "chapters" / f"{NOTEBOOKS[2].stem}.html").read_text(encoding="utf-8")
    assert "merkle_root(leaves[:k])" not in chapter02            # a line of chapter 02's solution


def test_every_internal_link_and_anchor_resolves(built):
    assert course_site.broken_links(built["out"]) == []


def test_the_link_check_reports_a_missing_page_a_missing_anchor_and_a_link_out_of_the_site(tmp_path):
    (tmp_path / "index.html").write_text('<h1 id="top">x</h1><a href="#top">ok</a><a href="a.html#nope">a</a>'
                                         '<a href="gone.html">g</a><a href="../../etc/passwd">out</a>'
                                         '<a href="https://example.org/">ext</a>')
    (tmp_path / "a.html").write_text('<p id="here">a</p><a href="index.html#top">back</a>')
    broken = course_site.broken_links(tmp_path)
    assert len(broken) == 3
    assert any("a.html#nope (no anchor #nope)" in b for b in broken)
    assert any("gone.html (no such file)" in b for b in broken)
    assert any("outside the site" in b for b in broken)
    assert course_site.external_links(tmp_path) == ["https://example.org/"]


def test_no_page_loads_a_script_style_or_image_from_outside(built):
    loads = re.compile(r'<(script|link|img|iframe|source)\b[^>]*\b(src|href)="([^"]+)"', re.I)
    for page in built["out"].rglob("*.html"):
        for tag, _attr, url in loads.findall(page.read_text(encoding="utf-8")):
            if tag.lower() == "link" and "stylesheet" not in url and not url.endswith((".css", ".js")):
                continue                                        # <link rel="next"> and the like: navigation
            assert not re.match(r"^(https?:)?//", url), f"{page.name} loads {url}"
    for name in ("vendor/require/LICENSE.txt", "vendor/html-manager/LICENSE.txt", "vendor/mathjax/LICENSE.txt"):
        assert (built["out"] / "_static" / name).stat().st_size > 100, f"{name}: the vendored licence is missing"


def test_widget_chapters_carry_their_saved_state_and_say_what_needs_a_kernel(built):
    for path in NOTEBOOKS:
        text = (built["out"] / "chapters" / f"{path.stem}.html").read_text(encoding="utf-8")
        if built["widgets"] == "all" or path.name[:2] in built["widgets"].split(","):
            assert "application/vnd.jupyter.widget-state+json" in text, f"{path.stem}: no saved widget state"
            assert "need a Python kernel" in text
        else:                                                   # no widget pass: said so, no empty view
            assert "skipped its widget pass" in text and "widget-view+json" not in text


def test_the_security_model_page_gathers_every_threat_model_box(built):
    text = (built["out"] / "security-model.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"chapters/{path.stem}.html" in text
    boxed = [p for p in NOTEBOOKS if "> **Threat model." in p.read_text(encoding="utf-8")]
    assert len(boxed) >= len(NOTEBOOKS) - 1 and text.count("Threat model.") == len(boxed)
    assert text.count("this chapter’s code guarantees") + text.count("this chapter's code guarantees") >= 11


def test_the_bundle_holds_the_site_the_course_and_the_offline_instructions(built, tmp_path):
    archive = course_site.bundle(built["out"], tmp_path / "course-offline.tar.gz", log=lambda *a: None)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert {"course-offline/OFFLINE.txt", "course-offline/site/index.html",
                "course-offline/course/requirements.txt", "course-offline/course/README.md"} <= names
        assert "pip install --no-index --find-links" in tar.extractfile("course-offline/OFFLINE.txt").read().decode()
    assert not (tmp_path / "course-offline.tar.gz.part").exists()


def test_the_command_refuses_bad_input_with_one_line(tmp_path):
    for argv, words in ((["build", "--widgets", "99"], "no chapter 99"),
                        (["bundle", "--site", str(tmp_path)], "no built site"),
                        (["check", "--site", str(tmp_path)], "no built site")):
        done = subprocess.run([sys.executable, "-m", "course_tools.site", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1 and words in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(course_site.SiteError, match="npm ci --prefix docs"):
        course_site.vendor_files(tmp_path / "node_modules")


# ---------------------------------------------------------------- the Chinese edition


def _switch(page: Path) -> dict[str, str]:
    text = page.read_text(encoding="utf-8")
    box = text[text.index("language-switch"):]
    box = box[:box.index("</div>")]
    return dict((code, href) for href, code in re.findall(r'href="([^"]+)" lang="(\w+)"', box))


def test_the_chinese_edition_has_every_page_with_chinese_chapters(built):
    from course_tools import translate
    zh = built["out"] / "zh"
    for name in PAGES:
        assert (zh / f"{name}.html").exists(), f"no Chinese {name} page"
    assert 'lang="zh-CN"' in (zh / "index.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        page = zh / "chapters" / f"{path.stem}.html"
        assert page.exists(), f"no Chinese page for {path.name}"
        text = page.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text
        title = nbformat.read(path, as_version=4).cells[0]
        translated = translate.translations(path.stem).get(title.id, {}).get(title.source.split("\n")[0])
        if translated:                              # the title has a current translation: the page shows it
            assert translated.lstrip("# ").split(" · ", 1)[-1].strip() in text, f"{path.stem}: title not in Chinese"


def test_the_language_switch_leads_to_the_same_page_in_the_other_edition(built):
    out = built["out"]
    for page in ("index.html", "chapters/07_secret_sharing_mpc.html", "security-model.html"):
        english, chinese = out / page, out / "zh" / page
        for here in (english, chinese):
            links = _switch(here)
            assert set(links) == {"en", "zh"}, links
            assert (here.parent / links["en"]).resolve() == english.resolve()
            assert (here.parent / links["zh"]).resolve() == chinese.resolve()


def test_the_chinese_security_model_gathers_the_chinese_boxes(built):
    text = (built["out"] / "zh" / "security-model.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"chapters/{path.stem}.html" in text
    assert re.search("[\u4e00-\u9fff]", text)


@pytest.mark.browser
def test_a_chinese_page_renders_with_cjk_glyphs_and_no_tofu(browser_site):
    from tests.test_translation import TOFU_SCRIPT, cjk_font_installed, platform_fonts
    if not cjk_font_installed():
        pytest.skip("no CJK font (apt-get install fonts-noto-cjk); .ci/run installs it")
    view = _Page(browser_site)
    try:
        page = view.open("zh/chapters/01_symmetric_encryption.html")
        page.wait_for_timeout(500)
        page.screenshot(path=str(_shot(browser_site, "zh-chapter-01.png")))
        result = page.evaluate(TOFU_SCRIPT, ["article", page.inner_text("article")])
        fonts = platform_fonts(page, "article h1")
        assert result.get("chars"), result
        assert not result["tofu"] and not result["blank"], result
        assert any("CJK" in f for f in fonts), fonts
        assert not view.errors and not view.outside, (view.errors, view.outside)
    finally:
        view.close()


# ---------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def browser_site(built):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")
    from course_lib.mpc.runtime import free_port
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(built["out"])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                yield {"browser": browser, "base": base,
                       "shots": Path(os.environ.get("SITE_SCREENSHOTS", built["root"] / "screenshots"))}
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


class _Page:
    """A fresh page whose every request is routed: local ones go on, any other is refused and recorded."""

    def __init__(self, site):
        self.context = site["browser"].new_context(viewport={"width": 1280, "height": 900})
        self.outside, self.errors, self.base = [], [], site["base"]
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, path: str):
        self.page.goto(self.base + path, wait_until="networkidle")
        return self.page

    def close(self):
        self.context.close()


def _all_pages(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.html") if "_static" not in p.parts)


@pytest.mark.browser
def test_every_page_loads_with_no_console_error_and_no_request_leaving_the_site(built, browser_site):
    pages = _all_pages(built["out"])
    assert len(pages) >= len(NOTEBOOKS) + len(PAGES)
    view = _Page(browser_site)
    try:
        for path in pages:
            view.open(path)
            view.page.wait_for_timeout(300)                   # late scripts (MathJax, the widget manager)
            assert not view.errors, f"{path}: {view.errors}"
            assert not view.outside, f"{path} asked for {view.outside}"
    finally:
        view.close()


@pytest.mark.browser
def test_math_renders(browser_site):
    view = _Page(browser_site)
    try:
        page = view.open("secure-computation.html")
        page.wait_for_selector("mjx-container", timeout=20_000)
        assert page.locator("mjx-container").count() >= 5      # the inline and display math of Beaver's identity
        assert page.locator("mjx-merror").count() == 0, "MathJax could not parse a formula"
        browser_site["shots"].mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(browser_site["shots"] / "secure-computation.png"), full_page=False)
        assert not view.errors and not view.outside
    finally:
        view.close()


def _shown_images(page, scope: str) -> int:
    return page.evaluate("""scope => [...document.querySelectorAll(scope + ' img')]
        .filter(img => img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width > 0).length""", scope)


@pytest.mark.browser
@pytest.mark.parametrize("chapter,minimum,words", [
    ("01_symmetric_encryption", 3, "New key"),               # the ECB penguin viewer: ECB, CBC and CTR panels
    ("02_hashing_and_integrity", 1, "Run random flips"),     # the avalanche grid
    ("07_secret_sharing_mpc", 0, None),                      # the share viewer (text widgets)
])
def test_a_widget_shows_its_saved_view(browser_site, chapter, minimum, words):
    view = _Page(browser_site)
    try:
        page = view.open(f"chapters/{chapter}.html")
        page.wait_for_selector(".jupyter-widgets.widget-container, .jupyter-widgets", timeout=20_000)
        assert page.locator(".jupyter-widgets").count() >= 3, "the widget manager drew no widget"
        if minimum:
            page.wait_for_function(f"document.querySelectorAll('.jupyter-widgets img').length >= {minimum}",
                                   timeout=20_000)
            assert _shown_images(page, ".jupyter-widgets") >= minimum, "the saved images are not shown"
        if words:
            button = page.locator(".jupyter-widgets button", has_text=words).first
            button.scroll_into_view_if_needed()
            assert button.is_visible()
            box = button.locator("xpath=ancestor::div[contains(@class,'cell_output')]").first
            box.screenshot(path=str(_shot(browser_site, f"{chapter}-widget.png")))
        assert not view.errors and not view.outside, (view.errors, view.outside)
    finally:
        view.close()


def _shot(site, name: str) -> Path:
    site["shots"].mkdir(parents=True, exist_ok=True)
    return site["shots"] / name


@pytest.mark.browser
def test_search_for_beaver_finds_chapter_07(browser_site):
    view = _Page(browser_site)
    try:
        page = view.open("search.html?q=Beaver")
        page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
        hrefs = [a.get_attribute("href") for a in page.locator("#search-results ul.search li a").all()]
        assert any("chapters/07_secret_sharing_mpc" in h for h in hrefs), hrefs
        page.screenshot(path=str(_shot(browser_site, "search-beaver.png")))
        view.open("index.html").screenshot(path=str(_shot(browser_site, "home.png")))
        assert not view.errors and not view.outside
    finally:
        view.close()
