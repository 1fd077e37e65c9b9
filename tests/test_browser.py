"""A real browser: JupyterLab + Debian's Chromium driven by Playwright.

For every chapter with widgets: open it, Run All (the ``runmenu:run-all`` command), wait for
the kernel, then check that the widgets rendered and respond to a click, a slider or a
typed value. The lab's copy of a chapter holds the cells that make the widgets the test drives
(``TESTED_WIDGETS``) and the cells those need (tests/notebook_slice.py): the rest cannot change
those widgets, and every whole chapter already runs under nbval (solved) and in the site's widget
pass (unsolved, both editions).
Screenshots of failures go to a temporary folder. Skipped, with the reason, where Chromium or
Playwright is missing.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_tools import translate

from .notebook_slice import needed_cells
from .test_translation import CJK, TOFU_SCRIPT, cjk_font_installed, platform_fonts

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                 "(apt-get install chromium); .ci/run installs it")]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")


# the widgets each chapter's test drives; the lab's copy of the chapter ends at the last cell making one
TESTED_WIDGETS = {"00": ["TimingRace"], "01": ["CiphertextViewer", "KdfCost"], "02": ["Avalanche"],
                  "03": ["PublicKeyTimings"], "04": ["EpochRace"], "07": ["ShareViewer"],
                  "09": ["GradientInversionViewer"], "10": ["SecureAggregationViewer"], "11": ["PrecisionViewer"]}


def cut_to_tested_widgets(nb, names):
    """The notebook cut to the code cells that make one of the widgets ``names`` and the cells they need."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    makes = {i for i, cell in enumerate(code) if any(f"cl.widgets.{name}(" in cell.source for name in names)}
    assert makes, f"no cell makes {names}"
    nb.cells = [code[i] for i in needed_cells([cell.source for cell in code], makes)]
    return nb


ZH_CHAPTER = "01_symmetric_encryption"


def _free_port():
    from course_lib.mpc.runtime import free_port
    return free_port()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    notebooks.mkdir()                             # Run All must never touch the committed notebooks
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if path.name[:2] in TESTED_WIDGETS:
            nbformat.write(cut_to_tested_widgets(nbformat.read(path, as_version=4), TESTED_WIDGETS[path.name[:2]]),
                           notebooks / path.name)
    translate.build("zh", notebooks / "zh", paths=[NOTEBOOKS / f"{ZH_CHAPTER}.ipynb"])   # a whole Chinese chapter
    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}))
    notebook_settings = root / "settings" / "@jupyterlab" / "notebook-extension"
    notebook_settings.mkdir(parents=True)   # render every cell, so widgets far down the page exist in the DOM
    (notebook_settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    port = _free_port()
    log = open(root / "lab.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                               "--allow-root", "--ServerApp.token=", "--ServerApp.password=",
                               "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly",
                               f"--ServerApp.root_dir={notebooks}"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{(root / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lab_page(browser, lab):
    """One JupyterLab page for the whole file: loading the application is the slow part of opening a page."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.goto(f"{lab}/lab")
    page.wait_for_function("() => window.jupyterapp", timeout=90_000)
    page.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }")
    yield page
    context.close()


@pytest.fixture
def page(lab_page, request, tmp_path_factory):
    """The lab's page, left as it was found: each test's notebook is closed and its kernel shut down."""
    yield lab_page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        shots = tmp_path_factory.mktemp("screenshots")
        lab_page.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
        print(f"screenshot of the failure: {shots / (request.node.name + '.png')}")
    lab_page.evaluate("""async () => { const app = window.jupyterapp;
        for (const w of [...app.shell.widgets('main')]) { if (w.context) w.context.model.dirty = false; }
        await app.commands.execute('application:close-all');
        await app.serviceManager.sessions.refreshRunning();
        for (const s of [...app.serviceManager.sessions.running()]) await app.serviceManager.sessions.shutdown(s.id); }""")


def run_all(page, url, name, timeout=300_000):
    """Open a notebook in the lab's page, wait for its kernel, run every cell, wait until all have run.

    Run All is sent only once the notebook's model is loaded and its panel revealed; if the cells have
    not all run in ``timeout`` ms, the failure says which cells are left and what the kernel is doing.
    """
    page.evaluate("name => window.jupyterapp.commands.execute('docmanager:open', {path: name})", name)
    page.wait_for_function("""(name) => { const w = window.jupyterapp?.shell?.currentWidget;
        return w?.context?.path?.endsWith(name) && w.context.isReady && w.isRevealed
               && w.content?.widgets?.length > 0 && w?.sessionContext?.session?.kernel?.status === 'idle'; }""",
                           arg=name, timeout=90_000)
    page.evaluate("window.jupyterapp.commands.execute('runmenu:run-all')")
    try:
        page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
            const cells = w.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
            return cells.length > 0 && cells.every(c => c.model.executionCount !== null)
                   && w.sessionContext?.session?.kernel?.status === 'idle'; }""", timeout=timeout, polling=500)
    except playwright_api.TimeoutError:
        state = page.evaluate("""() => { const w = window.jupyterapp.shell.currentWidget;
            const left = w.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim()
                                                      && c.model.executionCount === null);
            return {path: w.context.path, kernel: w.sessionContext?.session?.kernel?.status ?? null,
                    cells_left: left.length, first_left: left.length ? left[0].model.sharedModel.getSource().slice(0, 120) : null}; }""")
        pytest.fail(f"Run All of {name} did not finish in {timeout / 1000:.0f} s: {state}")
    errors = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .filter(c => c.model.type === 'code')
        .filter(c => { for (let i = 0; i < c.model.outputs.length; i++) {
                         if (c.model.outputs.get(i).type === 'error') return true; } return false; })
        .filter(c => !c.model.sharedModel.getSource().includes('NBVAL_RAISES_EXCEPTION'))
        .map(c => c.model.sharedModel.getSource().slice(0, 80))""")
    assert errors == [], f"unexpected errors in {name}: {errors}"


def image_sources(box):
    return box.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src') || '')")


def wait_until_changed(read, before, timeout=60.0, what="widget"):
    """Poll ``read()`` until it differs from ``before``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read()
        if now != before:
            return now
        time.sleep(0.25)
    raise AssertionError(f"the {what} did not change within {timeout:.0f} s")


def widget(page, name):
    """The rendered course widget of class ``name`` (its element carries ``course-<name>``)."""
    box = page.locator(f".course-{name}").first
    box.wait_for(state="visible", timeout=30_000)
    return box


def press_and_expect(box, button: str, text: str, timeout: float = 60.0, html_index: int = 0):
    """Click ``button`` in the widget and wait until its ``html_index``-th HTML area shows ``text``."""
    area = box.locator(".widget-html").nth(html_index)
    box.get_by_role("button", name=button).click()
    wait_until_changed(lambda: text in area.inner_text(), False, timeout=timeout, what=f"'{text}' after '{button}'")


def test_00_timing_race_runs_on_click(lab, page):
    run_all(page, lab, "00_welcome_threat_model.ipynb")
    race = widget(page, "TimingRace")
    press_and_expect(race, "Run race", "MB/s", html_index=1)
    assert any(src for src in image_sources(race)), "the chart was not drawn"


def test_01_ciphertext_viewer_changes_with_a_new_key(lab, page):
    run_all(page, lab, "01_symmetric_encryption.ipynb")
    viewer = widget(page, "CiphertextViewer")
    before = image_sources(viewer)
    assert len(before) == 5 and all(before), f"five rendered pictures expected, got {before}"
    viewer.get_by_role("button", name="New key").click()
    wait_until_changed(lambda: image_sources(viewer), before, what="ciphertext pictures")
    press_and_expect(widget(page, "KdfCost"), "Measure", "years")


def test_02_avalanche_follows_the_slider(lab, page):
    run_all(page, lab, "02_hashing_and_integrity.ipynb")
    box = widget(page, "Avalanche")
    grids_before = image_sources(box)
    handle = box.locator(".noUi-handle").first
    handle.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    wait_until_changed(lambda: image_sources(box), grids_before, what="digest bit grids")


def test_03_public_key_timings_measure(lab, page):
    run_all(page, lab, "03_public_key_crypto.ipynb")
    press_and_expect(widget(page, "PublicKeyTimings"), "Measure", "RSA-2048", timeout=120)


def test_04_epoch_race_runs(lab, page):
    run_all(page, lab, "04_protecting_datasets.ipynb")
    press_and_expect(widget(page, "EpochRace"), "Run epoch", "ms per epoch")


def test_07_share_viewer_reshares_and_draws(lab, page):
    run_all(page, lab, "07_secret_sharing_mpc.ipynb")
    box = widget(page, "ShareViewer")
    table_before = box.locator("table").first.inner_text()
    secret = box.locator("input[type=number]").first
    secret.fill("1234")
    secret.press("Enter")
    wait_until_changed(lambda: "+1,234" in box.locator("table").first.inner_text(), False, what="shares table")
    assert box.locator("table").first.inner_text() != table_before
    histogram_before = image_sources(box)
    box.get_by_role("button", name="Draw sharings").click()
    wait_until_changed(lambda: image_sources(box), histogram_before, what="share histogram")


def test_09_gradient_inversion_viewer_runs_and_follows_the_slider(lab, page):
    run_all(page, lab, "09_attacks_on_ml.ipynb")
    box = widget(page, "GradientInversionViewer")
    box.get_by_role("button", name="Run attack").click()
    wait_until_changed(lambda: "PSNR" in box.locator(".widget-html").last.inner_text(), False, what="attack result")
    pictures = image_sources(box)
    assert len(pictures) == 2 and all(pictures), f"the original and the reconstruction, got {pictures}"
    handle = box.locator(".noUi-handle").first
    handle.focus()
    page.keyboard.press("Home")                       # back to the random start of the optimisation
    wait_until_changed(lambda: image_sources(box), pictures, what="reconstruction at the first iteration")


def test_10_secure_aggregation_viewer_drops_a_client_and_aggregates(lab, page):
    run_all(page, lab, "10_federated_learning_secure_aggregation.ipynb")
    box = widget(page, "SecureAggregationViewer")
    wait_until_changed(lambda: "true sum" in box.inner_text(), False, what="the first aggregation")
    before = box.inner_text()
    box.get_by_role("button", name="client 3").click()           # drop one more: 2, 3, 5 dropped of 6
    box.get_by_role("button", name="Aggregate").click()
    wait_until_changed(lambda: "Round refused" in box.inner_text(), False, what="the refused round")
    box.get_by_role("button", name="client 2").click()           # bring client 2 back: 3 and 5 dropped
    box.get_by_role("button", name="Aggregate").click()
    wait_until_changed(lambda: "true sum" in box.inner_text(), False, what="the aggregation after the change")
    assert box.inner_text() != before and "✓" in box.inner_text()


def test_11_precision_viewer_redraws_for_another_scale(lab, page):
    run_all(page, lab, "11_homomorphic_encryption.ipynb")
    box = widget(page, "PrecisionViewer")
    wait_until_changed(lambda: "refused" in box.inner_text(), False, what="the first run")
    before, pictures = box.inner_text(), image_sources(box)
    handle = box.locator(".noUi-handle").first
    handle.focus()
    page.keyboard.press("End")                                   # scale 2^40
    box.get_by_role("button", name="Square repeatedly").click()
    wait_until_changed(lambda: "[60, 40, 40, 40, 60]" in box.inner_text(), False, what="the run at scale 2^40")
    wait_until_changed(lambda: image_sources(box), pictures, what="the figure (drawn after the text)")
    assert box.inner_text() != before and image_sources(box) != pictures


def test_a_chinese_notebook_in_jupyterlab_renders_with_cjk_glyphs(lab, page, tmp_path_factory):
    if not cjk_font_installed():
        pytest.skip("no CJK font (apt-get install fonts-noto-cjk); .ci/run installs it")
    """The Chinese edition of a chapter, as ``python -m course_tools.lab --lang zh`` writes it, in the lab."""
    page.evaluate("name => window.jupyterapp.commands.execute('docmanager:open', {path: name})",
                  f"zh/{ZH_CHAPTER}.ipynb")
    selector = ".jp-MarkdownOutput h1"
    page.wait_for_selector(selector, timeout=90_000)
    assert CJK.search(page.inner_text(selector)), f"chapter {ZH_CHAPTER}'s title is not translated"
    page.wait_for_timeout(1500)
    shots = Path(os.environ.get("SITE_SCREENSHOTS", tmp_path_factory.mktemp("screenshots")))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "jupyterlab-zh.png"))
    print(f"screenshot: {shots / 'jupyterlab-zh.png'}")
    result = page.evaluate(TOFU_SCRIPT, [".jp-MarkdownOutput", page.inner_text(".jp-MarkdownOutput")])
    fonts = platform_fonts(page, selector)
    assert result.get("chars"), result
    assert not result["tofu"] and not result["blank"], result
    assert any("CJK" in f or "Noto Sans SC" in f or "Noto Serif" in f for f in fonts), fonts
