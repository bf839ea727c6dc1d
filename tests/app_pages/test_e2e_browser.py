"""The Streamlit app end to end in a real headless Chromium (Selenium).

A `streamlit run` server on a free port, with its own data and checkpoints folders, driven by a
browser: every page opens with no exception box; a tiny run launched from the Train page completes
and its confusion matrix shows on Runs; an uploaded face gets a CAM overlay on Explain.

Needs chromium, chromedriver and selenium (`.ci/run` installs them); skipped where any is missing.
Screenshots of every step go to $FER_E2E_SCREENSHOTS, or else to a folder under pytest's tmp dir;
the folder is printed at the end (`pytest tests/test_e2e_browser.py -m browser`).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r requirements-dev.txt)")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    ElementClickInterceptedException, ElementNotInteractableException, StaleElementReferenceException,
    TimeoutException, WebDriverException)
from selenium.webdriver import ActionChains  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("chromium and chromedriver are needed for the browser test "
                "(apt-get install chromium chromium-driver; .ci/run does it)", allow_module_level=True)

CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--window-size=1400,1000")
WINDOW = (1400, 1000)
MAX_SHOT_HEIGHT = 8000      # full-page screenshots are the page's height, up to this
SERVER_START_S = 60
PAGE_LOAD_S = 120           # the first script run imports torch and builds the synthetic dataset
TRAIN_DONE_S = 180
# The Train page's number inputs for the quickest sensible run: one epoch on a few hundred synthetic
# faces (the page's minimum, 21 faces, leaves 7 training images: smaller than any useful batch).
TINY_RUN = {"train_epochs": 1, "train_synthetic_size": 210, "train_batch_size": 32}  # integer inputs

NAVIGATION = ["Home", "Dataset", "Train", "Runs", "Explain", "Demo", "Video"]  # the st.Page titles in streamlit_app.py
# (url path, page title): st.navigation names each page's URL after its file; Home is the default page.
PAGES = list(zip(["", "dataset", "train", "runs", "explain", "demo", "video"], NAVIGATION))
OPENED: list[str] = []  # url paths opened so far on the module's server, in order
LOAD_SECONDS: dict[str, float] = {}  # page title -> seconds from the request to its script's end, first visit

EXCEPTION = '[data-testid="stException"]'
ERROR_ALERT = '[data-testid="stAlertContentError"]'


# ---------------------------------------------------------------- the server and the browser

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_for_health(base_url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until /_stcore/health answers ok; fails with the server log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The server's own FER_DATA_DIR / FER_CHECKPOINTS_DIR root, shared by the module's tests
    (the autouse per-test folders do not exist yet when a module-scoped server starts)."""
    return tmp_path_factory.mktemp("e2e_project")


@pytest.fixture(scope="module")
def server(project):
    """`streamlit run streamlit_app.py` on a free port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "FER_DATA_DIR": str(project / "data"),
           "FER_CHECKPOINTS_DIR": str(project / "checkpoints"), "PYTHONUNBUFFERED": "1"}
    log = project / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://localhost:{port}"
    try:
        wait_for_health(base_url, proc, log, SERVER_START_S)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_jobs(project / "checkpoints")


def stop_jobs(checkpoints: Path) -> None:
    """Cancel whatever training the test left running, so no process outlives it."""
    if not checkpoints.exists():
        return
    from fer_core import jobs
    for record in jobs.active_runs(checkpoints):
        jobs.cancel(record.run_dir)


@pytest.fixture(scope="module")
def shots(tmp_path_factory, request) -> Path:
    """The screenshot folder; printed at the end of the module."""
    folder = Path(os.environ.get("FER_E2E_SCREENSHOTS") or tmp_path_factory.mktemp("e2e_screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    names = sorted(p.name for p in folder.glob("*.png"))
    (folder / "page_load_seconds.json").write_text(json.dumps(LOAD_SECONDS, indent=2))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown even without -s
        print(f"\ne2e screenshots ({len(names)}) in {folder}: {', '.join(names)}")
        print("page load (s, first visit, request to script end): "
              + ", ".join(f"{page} {seconds:.1f}" for page, seconds in LOAD_SECONDS.items()))


def write_y4m(path: Path, frames: list) -> Path:
    """RGB uint8 frames as an uncompressed .y4m clip (4:2:0), the format Chromium's fake camera plays."""
    import cv2
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory) -> Path:
    """What the browser's camera shows: two drawn faces the detector finds, on a plain background."""
    import numpy as np
    from tests.inference.test_live import frame_with_faces
    frame = frame_with_faces(2)
    return write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m",
                     [np.roll(frame, shift, axis=1) for shift in range(0, 40, 4)])


# Counts the page's requests for the camera (getUserMedia, in the page and in components' iframes) in
# the top window's __cameraRequests: the permission prompt a real browser shows comes with each.
CAMERA_SPY = """
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
        const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = constraints => {
            try { window.top.__cameraRequests = (window.top.__cameraRequests || 0) + 1; } catch (e) {}
            return ask(constraints);
        };
    }"""


# Records the text the data grids draw on their canvas (glide-data-grid: no DOM text to measure) in
# window.__gridTexts, with where it starts and how wide it is, for the cut-text check (GRID_TEXT_CUT).
GRID_TEXT_SPY = """
    const fillText = CanvasRenderingContext2D.prototype.fillText;
    CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
        const m = this.getTransform(), ratio = window.devicePixelRatio || 1, w = this.measureText(text).width;
        const shift = {right: w, end: w, center: w / 2}[this.textAlign] || 0;  // x is where the text starts
        (window.__gridTexts = window.__gridTexts || []).push({t: String(text), x: ((x - shift) * m.a + m.e) / ratio,
            y: (y * m.d + m.f) / ratio, w: w * m.a / ratio, canvas: this.canvas});
        return fillText.call(this, text, x, y, ...rest);
    };"""


@pytest.fixture(scope="module")
def browser(fake_camera):
    options = Options()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    # a camera without asking: Chromium's fake device playing the clip; host ICE candidates as IP addresses
    for arg in ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={fake_camera}", "--autoplay-policy=no-user-gesture-required",
                "--disable-features=WebRtcHideLocalIpsWithMdns"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except WebDriverException as exc:
        pytest.fail(f"could not start headless Chromium ({CHROMIUM}) with {CHROMEDRIVER}: {exc.msg}")
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAMERA_SPY + GRID_TEXT_SPY})
    yield driver
    driver.quit()


# ---------------------------------------------------------------- reading the page

def script_idle(driver) -> bool:
    """Streamlit has finished running the page's script: the app root says notRunning and the
    'Running...' status widget is gone."""
    try:
        state = driver.find_element(By.CSS_SELECTOR, '[data-testid="stApp"]').get_attribute("data-test-script-state")
    except (WebDriverException, StaleElementReferenceException):
        return False
    return state == "notRunning" and not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')


def wait_for(driver, condition, timeout: float, what: str, shots: Path | None = None, name: str = "timeout"):
    """Poll `condition(driver)` until truthy; on timeout, screenshot and fail saying `what`."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        if shots is not None:
            screenshot(driver, shots, f"FAILED_{name}", check=False)
        problems = page_problems(driver)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} on {driver.current_url}"
                    + (f"; the page shows: {problems}" if problems else ""))


def wait_idle(driver, timeout: float = PAGE_LOAD_S, shots: Path | None = None, name: str = "idle") -> None:
    wait_for(driver, script_idle, timeout, "the script run to finish", shots, name)


def page_shown(name: str):
    """The sidebar marks page `name` as the current one and the page has drawn its title."""
    def check(driver):
        current = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[aria-current="page"]')
        return (len(current) == 1 and current[0].text.strip().splitlines()[-1].lower() == name.lower()
                and bool(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] h1')))
    return check


def click(driver, element) -> None:
    """Click as a user would; when Chromium says the element is not interactable yet (mid-layout, an
    animation, a popover opening), scroll it into view and retry for up to 10 s."""
    deadline = time.monotonic() + 10
    while True:
        try:
            element.click()
            return
        except (ElementNotInteractableException, ElementClickInterceptedException):
            if time.monotonic() > deadline:
                raise
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            time.sleep(0.5)


def texts(driver, css: str) -> list[str]:
    return [(e.get_attribute("textContent") or "").strip() for e in driver.find_elements(By.CSS_SELECTOR, css)]


def page_problems(driver) -> str:
    """Exception boxes and error alerts on the page, as one line for failure messages."""
    found = [f"exception: {t[:400]}" for t in texts(driver, EXCEPTION)]
    found += [f"error: {t[:300]}" for t in texts(driver, ERROR_ALERT)]
    return " | ".join(found)


def nav_labels(driver) -> list[str]:
    """The page names in the sidebar navigation, top to bottom."""
    return [link.text.strip().splitlines()[-1] for link in
            driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a') if link.text.strip()]


def assert_no_exception(driver, where: str) -> None:
    boxes = texts(driver, EXCEPTION)
    assert not boxes, f"{where} shows an exception box:\n" + "\n---\n".join(boxes)


def screenshot(driver, folder: Path, name: str, check: bool = True) -> Path:
    """The whole page, not just the window: Streamlit scrolls inside its main section, so the
    window is stretched to that section's height for the shot, then put back. Unless `check` is
    False, the page is then checked for the layout defects issue 13 found (`layout_defects`)."""
    path = folder / f"{name}.png"
    chrome = WINDOW[1] - driver.execute_script("return window.innerHeight")  # tabs and toolbar, if any
    defects = []
    try:
        for _ in range(3):  # images and charts laid out at the new size can make the page taller still
            height = min(max((driver.execute_script(MAIN_HEIGHT) or WINDOW[1]) + chrome, WINDOW[1]), MAX_SHOT_HEIGHT)
            if height == driver.get_window_size()["height"]:
                break
            driver.set_window_size(WINDOW[0], height)
            time.sleep(1.0)  # plotly redraws at the new size; grids and images lay out again
        WebDriverWait(driver, 10, poll_frequency=0.25).until(plots_drawn)
        time.sleep(0.5)
        driver.save_screenshot(str(path))
        if check:
            defects = layout_defects(driver)
    except TimeoutException:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(*WINDOW)
    assert not defects, f"{path.name} shows layout defects:\n" + "\n".join(defects)
    return path


# What the page must not show (issue 13's defects, checked on every screenshot): a gallery tile not
# at its declared size or captions out of line; a chart's Plotly toolbar over its text; a literal
# "None" in a table cell or the text; a duration the app guessed; Streamlit's Deploy button.
GEOMETRY = r"""
    const rect = el => el.getBoundingClientRect();
    const overlap = (a, b) => a.width > 0 && a.height > 0 && b.width > 0 && b.height > 0 &&
        a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;"""

# Text a data grid drew (GRID_TEXT_SPY) since the last check that is wider than its column (the columns
# start where their header texts do), or that runs past the right edge of a grid that should not scroll.
GRID_TEXT_CUT = r"""
    const HEADER_ROW_PX = 35;  // Streamlit's grid header row: its text is drawn above this
    const gridTextCut = () => {
        const found = [], byCanvas = new Map();
        for (const t of window.__gridTexts || []) {
            const grid = t.canvas.isConnected && t.canvas.closest('[data-testid="stDataFrame"]');
            if (grid) byCanvas.set(t.canvas, [...(byCanvas.get(t.canvas) || []), t]);
        }
        window.__gridTexts = [];
        byCanvas.forEach((all, canvas) => {
            const wide = !!canvas.closest(WIDE_TABLES), right = canvas.width / (window.devicePixelRatio || 1);
            const headerY = Math.min(...all.map(t => t.y)), inHeader = t => Math.abs(t.y - headerY) < 1;
            if (headerY > HEADER_ROW_PX) return;  // cells redrawn alone (hover): no header row to measure them by
            // Only the last draw: it starts with the header row, drawn left to right (earlier draws, at
            // other widths while the page was laid out or resized for the shot, put columns elsewhere).
            let start = all.findLastIndex(inHeader);
            while (start > 0 && inHeader(all[start - 1]) && all[start - 1].x < all[start].x) start--;
            const drawn = all.slice(start);
            const lefts = [...new Set(drawn.filter(inHeader).map(t => Math.round(t.x)))]
                .sort((a, b) => a - b);
            const seen = new Set();
            drawn.forEach(t => {
                const x = Math.round(t.x), key = `${t.t}@${x},${Math.round(t.y)}`;
                if (seen.has(key) || x >= right) return;  // drawn already, or scrolled out of sight
                seen.add(key);
                const next = lefts.find(l => l > x + 1);
                if (next !== undefined && x + t.w > next + 1)
                    found.push(`a table cell reads "${t.t}" cut short (${Math.round(t.w)} px of text in ${next - x} px)`);
                else if (next === undefined && !wide && x + t.w > right + 1)
                    found.push(`a table's "${t.t}" runs past its right edge`);
            });
        });
        return found;
    };"""

LAYOUT_DEFECTS = GEOMETRY + r"""
    const WIDE_TABLES = '.st-key-runs_table';  // every run's per-class F1: scrolls sideways by design
""" + GRID_TEXT_CUT + r"""
    const found = [];
    document.querySelectorAll('.fer-gallery').forEach((gallery, g) => {
        const rows = new Map();  // image top -> caption tops of the tiles in that row
        gallery.querySelectorAll('figure').forEach(figure => {
            const img = figure.querySelector('img'), size = +img.getAttribute('width'), r = rect(img);
            if (Math.abs(r.width - size) > 1 || Math.abs(rect(figure).width - size) > 1)
                found.push(`gallery ${g}: a ${size} px tile is drawn ${Math.round(rect(figure).width)} px wide`);
            const fit = getComputedStyle(img).objectFit;  // 'none' and 'scale-down' leave a small image small
            if ((fit === 'none' || fit === 'scale-down') && img.naturalWidth < size)
                found.push(`gallery ${g}: a ${img.naturalWidth} px image sits unscaled in its ${size} px tile`);
            const top = Math.round(r.top);
            rows.set(top, [...(rows.get(top) || []), rect(figure.querySelector('figcaption')).top]);
        });
        rows.forEach(tops => { if (Math.max(...tops) - Math.min(...tops) > 1)
            found.push(`gallery ${g}: the captions of one row are not in line`); });
    });
    document.querySelectorAll('[data-testid="stPlotlyChart"]').forEach((chart, c) => {
        const words = [...chart.querySelectorAll('.main-svg text')].filter(t => t.textContent.trim());
        chart.querySelectorAll('.modebar').forEach(bar => words.forEach(t => { if (overlap(rect(bar), rect(t)))
            found.push(`chart ${c}: Plotly's toolbar covers "${t.textContent.trim()}"`); }));
    });
    document.querySelectorAll('[data-testid="stDataFrame"] td, [data-testid="stTable"] td').forEach(td => {
        if (['None', 'nan', 'NaN'].includes(td.textContent.trim()))
            found.push(`a table cell reads "${td.textContent.trim()}"`); });
    document.querySelectorAll('[data-testid="stDataFrame"]').forEach(table => {
        const scroller = table.querySelector('.dvn-scroller');
        if (scroller && scroller.scrollWidth > scroller.clientWidth + 1 && !table.closest(WIDE_TABLES))
            found.push(`a table is cut off on the right (${scroller.scrollWidth} px of columns in ${scroller.clientWidth} px): `
                       + [...table.querySelectorAll('th')].map(th => th.textContent.trim()).filter(Boolean).join(', '));
    });
    found.push(...gridTextCut());
    const cut = new Set();  // a label cut short with '…', its whole text nowhere on hover
    document.querySelectorAll('[data-testid="stMain"] *').forEach(el => {
        if (el.scrollWidth > el.clientWidth + 1 && el.textContent.trim()
                && getComputedStyle(el).textOverflow === 'ellipsis' && !el.closest('[title]'))
            cut.add(el.textContent.trim().slice(0, 80));
    });
    cut.forEach(t => found.push(`a label is cut short: "${t}"`));
    const text = document.querySelector('[data-testid="stMain"]').innerText;
    for (const bad of [/\bNone\b/, /a few minutes/i, /about 2 minutes/i])  // the guesses the app used to state
        if (bad.test(text)) found.push(`the page says "${text.match(bad)[0]}"`);
    if (document.querySelector('[data-testid="stAppDeployButton"]')) found.push('a Deploy button shows');
    return found;"""

# Streamlit's own chart toolbar (fullscreen and friends) exists only while the pointer is over the chart.
ELEMENT_TOOLBAR_COVERS = GEOMETRY + r"""
    const chart = arguments[0], found = [];
    const words = [...chart.querySelectorAll('.main-svg text')].filter(t => t.textContent.trim());
    document.querySelectorAll('[data-testid="stElementToolbar"]').forEach(bar => words.forEach(t => {
        if (overlap(rect(bar), rect(t))) found.push(`Streamlit's chart toolbar covers "${t.textContent.trim()}"`); }));
    return found;"""


def layout_defects(driver) -> list[str]:
    """The issue-13 defects the page shows now, one line each (empty when none)."""
    found = driver.execute_script(LAYOUT_DEFECTS)
    for chart in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]'):
        try:
            ActionChains(driver).move_to_element(chart).perform()
            found += driver.execute_script(ELEMENT_TOOLBAR_COVERS, chart)
        except (WebDriverException, StaleElementReferenceException):
            continue  # redrawn meanwhile: the next screenshot checks it
    return found


MAIN_HEIGHT = ("const m = document.querySelector('[data-testid=\"stMain\"]');"
               "return m ? m.scrollHeight : document.documentElement.scrollHeight;")


def plots_drawn(driver) -> bool:
    """Every plotly chart on the page has drawn its SVG."""
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.querySelector('.js-plotly-plot .main-svg'));")


def open_page(driver, base_url: str, path: str, title: str, shots: Path, name: str) -> None:
    """Load a page by its URL; wait until the navigation shows it as `title`, it has drawn its
    heading and its script has finished."""
    OPENED.append(path)
    started = time.monotonic()
    driver.get(f"{base_url}/{path}")
    wait_for(driver, page_shown(title), PAGE_LOAD_S, f"the {title} page", shots, name)
    wait_idle(driver, PAGE_LOAD_S, shots, name)
    LOAD_SECONDS.setdefault(title, round(time.monotonic() - started, 2))


# ---------------------------------------------------------------- the tests

def test_a_deep_link_on_a_fresh_server_gets_the_apps_navigation(server, browser, shots):
    """The first request after the server starts is for /runs, not the home page.

    Were the pages in a `pages/` folder next to the entry script, Streamlit would treat it as a legacy
    multipage app until some session had run st.navigation, and a deep link would run the page file on
    its own, under the folder's automatic navigation (which listed pages/common.py as a page)."""
    if OPENED:
        pytest.skip(f"the server has already served {OPENED}: this needs to be its first request")
    open_page(browser, server, "runs", "Runs", shots, "deep_link_runs")
    screenshot(browser, shots, "page_0_deep_link_runs")
    assert nav_labels(browser) == NAVIGATION, "a deep link right after the server starts shows the wrong app"
    assert_no_exception(browser, "/runs as the first page")


@pytest.mark.parametrize("path,title", PAGES, ids=[p or "home" for p, _ in PAGES])
def test_every_page_opens_without_an_exception(server, browser, shots, path, title):
    name = f"page_{PAGES.index((path, title)) + 1}_{path or 'home'}"
    open_page(browser, server, path, title, shots, name)
    screenshot(browser, shots, name)
    assert_no_exception(browser, f"/{path}")
    assert browser.current_url.rstrip("/") == f"{server}/{path}".rstrip("/")
    assert nav_labels(browser) == NAVIGATION


def tab_filled(label: str):
    """The tab called `label` is selected and its panel shows something."""
    def check(driver):
        return driver.execute_script("""
            const tab = [...document.querySelectorAll('[role="tab"]')].find(t => t.textContent.trim() === arguments[0]);
            if (!tab || tab.getAttribute('aria-selected') !== 'true') return false;
            const panel = document.getElementById(tab.getAttribute('aria-controls'));
            return !!panel && !!panel.querySelector('[data-testid="stElementContainer"]');""", label)
    return check


def test_dataset_tabs_render(server, browser, shots):
    open_page(browser, server, "dataset", "Dataset", shots, "dataset_tabs")
    labels = [t.text.strip() for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')]
    assert len(labels) >= 5, f"the Dataset page shows tabs {labels}"
    for i, label in enumerate(labels):
        tab = next(t for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]') if t.text.strip() == label)
        click(browser, tab)
        wait_for(browser, tab_filled(label), PAGE_LOAD_S, f"the '{label}' tab's content", shots, f"dataset_tab_{label}")
        time.sleep(0.5)  # an on_change rerun may not have started yet
        wait_idle(browser, PAGE_LOAD_S, shots, f"dataset_tab_{label}")
        screenshot(browser, shots, f"dataset_tab_{i + 1}_{label.lower().replace(' ', '_')}")
        assert_no_exception(browser, f"the Dataset page's '{label}' tab")


def test_the_label_noise_tab_shows_the_agreement_matrix_and_the_faces_that_differ(server, browser, shots, project,
                                                                                   tmp_path):
    """With FER+ votes chosen (remembered in settings.json, as Home writes it) the Label noise tab draws the
    agreement matrix, the per-class bars, the disagreement gallery and the annotators' histogram. The
    settings are put back afterwards: the other tests use the dataset's own labels."""
    from tests.conftest import synthetic_votes
    settings = project / "data" / "settings.json"
    before = settings.read_bytes() if settings.exists() else None
    votes = synthetic_votes(tmp_path / "votes.csv", 4000)
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({**(json.loads(before) if before else {}), "dataset": "synthetic",
                                    "votes": str(votes), "label_mode": "majority"}))
    try:
        open_page(browser, server, "dataset", "Dataset", shots, "dataset_label_noise")
        open_tab(browser, "Label noise")
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')) >= 3
                 and d.find_elements(By.CSS_SELECTOR, ".fer-gallery figure") and plots_drawn(d),
                 PAGE_LOAD_S, "the label-noise charts and gallery", shots, "dataset_label_noise")
        wait_idle(browser, PAGE_LOAD_S, shots, "dataset_label_noise")
        screenshot(browser, shots, "dataset_label_noise")
        assert "labels agree" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text
        assert_no_exception(browser, "the Dataset page's Label noise tab")
    finally:
        if before is None:
            settings.unlink(missing_ok=True)
        else:
            settings.write_bytes(before)


# ---------------------------------------------------------------- runs and explanations

def completed_runs(checkpoints: Path) -> list:
    """The completed runs in the server's checkpoints folder, newest first."""
    from fer_core.runs.store import list_runs
    return [r for r in list_runs(checkpoints) if r.state == "completed"] if checkpoints.exists() else []


def confusion_matrix_drawn(run_id: str):
    """The Runs page's confusion-matrix chart for `run_id` (st.plotly_chart key runs_cm_<id>) is drawn."""
    def check(driver):
        return driver.execute_script(
            "const box = document.querySelector('.st-key-runs_cm_' + CSS.escape(arguments[0]));"
            "return !!box && !!box.querySelector('.js-plotly-plot .main-svg');", run_id)
    return check


def table_text(driver) -> str:
    """The cells of the page's data grids (glide-data-grid keeps an accessible copy in the DOM)."""
    return " ".join(texts(driver, '[data-testid="stDataFrame"]'))


def show_run_on_runs_page(driver, base_url: str, run_id: str, shots: Path) -> None:
    """Open Runs, tick `run_id` (the only run) in the table and see its confusion matrix."""
    open_page(driver, base_url, "runs", "Runs", shots, "runs_with_run")
    wait_for(driver, lambda d: run_id in table_text(d), 30, f"{run_id} in the runs table", shots, "runs_table")
    if confusion_matrix_drawn(run_id)(driver):  # the page pre-selects the newest run: untick it first
        click_first_row(driver)
        wait_for(driver, lambda d: not confusion_matrix_drawn(run_id)(d) and script_idle(d), 30,
                 f"the confusion matrix to go once {run_id} is unticked", shots, "runs_untick")
        assert any("Select one or more runs" in t for t in texts(driver, '[data-testid="stAlertContentInfo"]'))
    click_first_row(driver)
    wait_for(driver, confusion_matrix_drawn(run_id), 60, f"the confusion matrix of {run_id}", shots, "runs_cm")
    wait_idle(driver, PAGE_LOAD_S, shots, "runs_cm")
    screenshot(driver, shots, "flow_3_runs_confusion_matrix")
    assert_no_exception(driver, "the Runs page with a completed run")
    titles = texts(driver, f".st-key-runs_cm_{run_id} .gtitle")
    assert any(run_id in t for t in titles), f"the confusion matrix is titled {titles}, not {run_id}"


def click_first_row(driver, index: int = 0) -> None:
    """Click the row-marker checkbox of the runs table's row `index` (the grid is drawn on a canvas)."""
    grid = driver.find_element(By.CSS_SELECTOR, '.st-key-runs_table [data-testid="stDataFrame"]')
    header, row, marker = 35, 35, 30  # Streamlit's grid: header and row heights, marker column width (px)
    ActionChains(driver).move_to_element_with_offset(
        grid, -grid.size["width"] // 2 + marker // 2,
        -grid.size["height"] // 2 + header + row * index + row // 2).click().perform()


def face_png(folder: Path, label: int = 3, scale: int = 2) -> Path:
    """A synthetic face (CANONICAL_CLASSES[label], default happy) as a PNG, upscaled like a photo crop."""
    import cv2
    import numpy as np
    from fer_core.data.synthetic import draw_faces
    images, _ = draw_faces(np.array([label]), np.random.default_rng(0))
    path = folder / "face.png"
    cv2.imwrite(str(path), cv2.resize(images[0], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
    return path


def selectbox_value(driver, key: str) -> str:
    """The option the st.selectbox with this key shows (its combobox input's value)."""
    return driver.find_element(By.CSS_SELECTOR, f".st-key-{key} input[role='combobox']").get_attribute("value")


def overlay_captions(driver) -> list[str]:
    """Captions of the Explain page's saliency overlays ('<method> for <class>')."""
    return [t for t in texts(driver, ".fer-gallery figcaption") if " for " in t]


def set_number(driver, key: str, value) -> None:
    """Type `value` into the st.number_input with this key and commit it (Enter reruns the script)."""
    box = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f".st-key-{key} input"), 30,
                   f"the {key} input")[0]
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.ENTER)
    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, f".st-key-{key} input").get_attribute("value")
             == str(value), 30, f"{key} to read {value}")
    time.sleep(0.5)  # the rerun the change triggers
    wait_idle(driver)


def run_state(checkpoints: Path, run_id: str) -> str | None:
    """The run's status, or None while its folder cannot be read yet."""
    from fer_core.runs.store import RunError, load_run
    try:
        return load_run(checkpoints / run_id).state
    except RunError:
        return None


def test_a_tiny_run_launched_from_train_completes_and_shows_on_runs(server, browser, shots, project):
    """Train: one simple_cnn epoch on a few hundred synthetic faces; then Runs shows its confusion matrix."""
    checkpoints = project / "checkpoints"
    open_page(browser, server, "train", "Train", shots, "train")
    for key, value in TINY_RUN.items():
        set_number(browser, key, value)
    click(browser, browser.find_element(By.CSS_SELECTOR, ".st-key-train_launch button"))
    wait_for(browser, lambda d: any("Queued 1 run" in t for t in texts(d, '[data-testid="stAlertContentSuccess"]')),
             60, "the 'Queued 1 run(s)' message", shots, "train_launch")
    assert_no_exception(browser, "the Train page after Launch")
    queued = next(t for t in texts(browser, '[data-testid="stAlertContentSuccess"]') if "Queued 1 run" in t)
    run_id = queued.split(":", 1)[1].split(".")[0].strip()  # "Queued 1 run(s): <id>. Their progress is below."
    assert (checkpoints / run_id).is_dir(), f"the page says it queued {run_id}, but {checkpoints} has no such folder"
    screenshot(browser, shots, "flow_1_train_launched")

    # the live panel refreshes every 2 s: wait for the run folder to say it is done
    deadline = time.monotonic() + TRAIN_DONE_S
    while run_state(checkpoints, run_id) not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"{run_id} did not finish within {TRAIN_DONE_S} s " \
                                            f"(state {run_state(checkpoints, run_id)})"
        time.sleep(1)
    from fer_core.runs.store import load_run
    record = load_run(checkpoints / run_id)
    assert record.state == "completed", f"{run_id} ended {record.state}: {record.status.get('error')}"
    wait_for(browser, lambda d: "No run is queued or running" in d.find_element(By.CSS_SELECTOR, "body").text,
             30, "the live panel to show the run finished", shots, "train_done")
    wait_idle(browser)
    screenshot(browser, shots, "flow_2_train_completed")
    assert_no_exception(browser, "the Train page after the run completed")

    show_run_on_runs_page(browser, server, run_id, shots)


def test_explain_overlays_a_cam_on_an_uploaded_face(server, browser, shots, project, tmp_path, request):
    """Upload a face on Explain (with a completed run in the checkpoints folder) and see an overlay."""
    checkpoints = project / "checkpoints"
    if not completed_runs(checkpoints):  # the Train test did not leave one: bring the session's run
        trained = request.getfixturevalue("trained_run")
        shutil.copytree(trained, checkpoints / trained.name)
    open_page(browser, server, "explain", "Explain", shots, "explain")
    screenshot(browser, shots, "flow_4_explain_before_upload")
    inputs = browser.find_elements(By.CSS_SELECTOR, 'input[type="file"]')
    assert inputs, "the Explain page has no file uploader"
    inputs[0].send_keys(str(face_png(tmp_path)))
    wait_for(browser, lambda d: overlay_captions(d) and script_idle(d), PAGE_LOAD_S,
             "a saliency overlay after the upload", shots, "explain_overlay")
    method = selectbox_value(browser, "explain_method")
    assert any(c.startswith(f"{method} for ") for c in overlay_captions(browser)), \
        f"the chosen method is {method!r} but the overlays are captioned {overlay_captions(browser)}"
    overlay = browser.find_element(By.XPATH, '//*[contains(@class, "fer-gallery")]//figure'
                                             '[figcaption[contains(., " for ")]]//img')
    assert overlay.size["width"] > 100, "the overlay image is not shown at a readable size"
    screenshot(browser, shots, "flow_5_explain_overlay")
    assert_no_exception(browser, "the Explain page after an upload")



# ---------------------------------------------------------------- the live camera

WEBRTC_FRAME = 'iframe[title*="streamlit_webrtc"]'
# Pixels of the live colour (fer_core.inference.live.LIVE_COLOUR, pure green) in the stream's newest frame.
GREEN_PIXELS = """
    const video = document.querySelector('video');
    if (!video || video.readyState < 2 || !video.videoWidth) return -1;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(video, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let green = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] < 60 && px[i + 1] > 200 && px[i + 2] < 60) green++;
    return green;"""


def open_tab(driver, label: str) -> None:
    tab = next(t for t in driver.find_elements(By.CSS_SELECTOR, '[role="tab"]') if label in t.text)
    click(driver, tab)


def in_webrtc_frame(driver, script: str):
    """Run `script` inside the live camera component's iframe (found afresh: Streamlit may redraw it)."""
    frames = driver.find_elements(By.CSS_SELECTOR, WEBRTC_FRAME)
    if not frames:
        return None
    driver.switch_to.frame(frames[0])
    try:
        return driver.execute_script(script)
    finally:
        driver.switch_to.default_content()


PRESS = """const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim().toUpperCase() === arguments[0]);
    if (b) b.click(); return !!b;"""


def start_live_stream(driver, shots: Path, name: str) -> int:
    """Press the webrtc component's START and wait for a labelled box in the returned stream: the
    number of live-colour pixels in its frame."""
    wait_for(driver, lambda d: in_webrtc_frame(d, PRESS.replace("arguments[0]", "'START'")), PAGE_LOAD_S,
             "the live camera's START button", shots, name)
    return wait_for(driver, lambda d: (in_webrtc_frame(d, GREEN_PIXELS) or 0) > 300 and in_webrtc_frame(d, GREEN_PIXELS),
                    90, "a labelled face box in the live stream", shots, name)


def stop_live_stream(driver) -> None:
    in_webrtc_frame(driver, PRESS.replace("arguments[0]", "'STOP'"))


def test_demo_live_camera_boxes_and_labels_the_faces_of_a_fake_camera(server, browser, shots):
    """Chromium's fake camera plays a clip of two faces; Demo's live stream comes back with boxes drawn."""
    open_page(browser, server, "demo", "Demo", shots, "demo_live")
    open_tab(browser, "Live camera")
    green = start_live_stream(browser, shots, "demo_live_stream")
    time.sleep(3)  # the status line refreshes every 2 s
    screenshot(browser, shots, "flow_6_demo_live_camera")
    status = " ".join(texts(browser, '[data-testid="stCaptionContainer"]'))
    stop_live_stream(browser)
    assert green > 300
    assert "frames analysed" in status, f"no live status line: {status[:300]}"
    assert_no_exception(browser, "Demo with the live camera")


def test_explain_live_camera_lays_the_saliency_map_over_the_faces(server, browser, shots, project, request):
    checkpoints = project / "checkpoints"
    if not completed_runs(checkpoints):
        trained = request.getfixturevalue("trained_run")
        shutil.copytree(trained, checkpoints / trained.name)
    open_page(browser, server, "explain", "Explain", shots, "explain_live")
    click(browser, browser.find_element(By.XPATH, '//*[@data-testid="stRadio"]//label[contains(., "Live camera")]'))
    wait_idle(browser, PAGE_LOAD_S, shots, "explain_live_radio")
    start_live_stream(browser, shots, "explain_live_stream")
    time.sleep(3)
    screenshot(browser, shots, "flow_7_explain_live_camera")
    stop_live_stream(browser)
    assert_no_exception(browser, "Explain with the live camera")


# ---------------------------------------------------------------- Demo for people who are not engineers

def photo_with_a_face(folder: Path) -> Path:
    import cv2
    from tests.inference.test_live import frame_with_faces
    path = folder / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame_with_faces(1), cv2.COLOR_RGB2BGR))
    return path


def camera_requests(driver) -> int:
    """How many times this page (or a component's iframe) asked the browser for the camera (CAMERA_SPY)."""
    return driver.execute_script("return window.__cameraRequests || 0")


def answer_shown(driver) -> bool:
    return any("sure" in t for t in texts(driver, '[data-testid="stProgress"]')) and script_idle(driver)


def test_demo_answers_an_uploaded_photo_in_plain_words(server, browser, shots, tmp_path):
    open_page(browser, server, "demo", "Demo", shots, "demo_upload")
    time.sleep(2)  # components (the live camera's, in its tab) have loaded
    assert camera_requests(browser) == 0, "Demo asked the browser for the camera on arrival, before anyone chose it"
    inputs = browser.find_elements(By.CSS_SELECTOR, 'input[type="file"]')
    assert inputs, "the Demo page has no file uploader"
    started = time.monotonic()
    inputs[0].send_keys(str(photo_with_a_face(tmp_path)))
    wait_for(browser, answer_shown, PAGE_LOAD_S, "the emotion of the uploaded photo", shots, "demo_upload_answer")
    # this server's first Demo answer (the model loads on the first photo): upload to answer shown
    LOAD_SECONDS.setdefault("Demo first answer", round(time.monotonic() - started, 2))
    shown = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text
    assert "I found 1 face" in shown and "Next most likely:" in shown and '"Sure" is the share' in shown
    screenshot(browser, shots, "flow_8_demo_upload_answer")
    assert_no_exception(browser, "Demo after an upload")


def test_demo_takes_one_snapshot_from_the_fake_camera(server, browser, shots):
    open_page(browser, server, "demo", "Demo", shots, "demo_snapshot")
    open_tab(browser, "One snapshot")
    click(browser, browser.find_element(By.XPATH, '//*[contains(@class, "st-key-demo_use_camera")]//label'))
    take = wait_for(browser, lambda d: [b for b in d.find_elements(By.TAG_NAME, "button")
                                        if b.text.strip().lower() == "take photo" and b.is_enabled()],
                    PAGE_LOAD_S, "the camera's Take Photo button", shots, "demo_snapshot_camera")[0]
    time.sleep(2)  # the fake camera's first frames
    assert camera_requests(browser) > 0, "the camera shows, yet the spy saw no getUserMedia call"
    click(browser, take)
    wait_for(browser, answer_shown, PAGE_LOAD_S, "the emotion of the snapshot", shots, "demo_snapshot_answer")
    screenshot(browser, shots, "flow_9_demo_snapshot_answer")
    assert "face" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text
    assert_no_exception(browser, "Demo after a snapshot")


# ---------------------------------------------------------------- Runs as a tracker

def main_text(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text


def test_runs_are_renamed_and_two_selected_runs_show_what_differs(server, browser, shots, project, request):
    import json as json_
    from fer_core.runs.store import list_runs
    checkpoints = project / "checkpoints"
    if not completed_runs(checkpoints):
        trained = request.getfixturevalue("trained_run")
        shutil.copytree(trained, checkpoints / trained.name)
    base = completed_runs(checkpoints)[0].run_dir
    other = checkpoints / "20200101-000000-simple_cnn-focal"  # the oldest name: the table's last row
    shutil.copytree(base, other)
    config = json_.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json_.dumps({**config, "imbalance": "focal", "lr": 0.01}))
    listed = [r.run_id for r in list_runs(checkpoints)]
    open_page(browser, server, "runs", "Runs", shots, "runs_tracker")
    wait_for(browser, lambda d: other.name in table_text(d), 30, f"{other.name} in the runs table", shots, "runs_tracker")
    click_first_row(browser, listed.index(other.name))  # the newest evaluated run is selected already
    wait_for(browser, lambda d: "What differs" in main_text(d) and script_idle(d), 60, "the 'What differs' table",
             shots, "runs_differs")
    assert "focal" in table_text(browser) and "imbalance" in table_text(browser)

    click(browser, browser.find_element(By.XPATH, '//button[contains(., "Name, tags, notes")]'))
    name_box = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[class*="st-key-runs_notes_name_"] input'),
                        30, "the run's name box", shots, "runs_notes")[0]
    name_box.send_keys("my first baseline")
    click(browser, browser.find_element(By.XPATH, '//button[contains(., "Save")]'))
    wait_for(browser, lambda d: "my first baseline" in table_text(d) and script_idle(d), 60,
             "the new name in the runs table", shots, "runs_renamed")
    screenshot(browser, shots, "flow_10_runs_renamed_and_what_differs")
    assert_no_exception(browser, "Runs after a rename")


def test_a_lasso_on_the_dataset_embedding_shows_the_faces_it_holds(server, browser, shots):
    open_page(browser, server, "dataset", "Dataset", shots, "dataset_embedding")
    open_tab(browser, "Embedding")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".st-key-dataset_embed_chart .scatterlayer .point"),
             PAGE_LOAD_S, "the embedding's points", shots, "dataset_embedding_points")
    wait_idle(browser, PAGE_LOAD_S, shots, "dataset_embedding_points")
    drag = browser.find_element(By.CSS_SELECTOR, ".st-key-dataset_embed_chart .nsewdrag")  # the plot area
    ActionChains(browser).move_to_element_with_offset(drag, -60, -40).click_and_hold() \
        .move_by_offset(40, 30).move_by_offset(80, 50).release().perform()  # a box over the middle
    wait_for(browser, lambda d: any(t.endswith("selected") or " selected;" in t
                                    for t in texts(d, '[data-testid="stCaptionContainer"]')) and script_idle(d),
             60, "the selected point's face", shots, "dataset_embedding_selected")
    assert browser.find_elements(By.CSS_SELECTOR, ".fer-gallery figure"), "no face shown for the selected point"
    screenshot(browser, shots, "flow_11_dataset_embedding_selection")
    assert_no_exception(browser, "the Dataset embedding after a selection")


def test_the_layout_check_sees_each_defect_it_looks_for(server, browser, shots, project, request):
    """`layout_defects` passes every screenshot above: here it must catch each defect once it is put on
    the page (a widened tile, Plotly's toolbar moved over an axis label, a "None" cell, a guessed
    duration, grid text wider than its column), and hovering a chart must bring up Streamlit's toolbar
    it measures."""
    checkpoints = project / "checkpoints"
    if not completed_runs(checkpoints):
        trained = request.getfixturevalue("trained_run")
        shutil.copytree(trained, checkpoints / trained.name)
    open_page(browser, server, "runs", "Runs", shots, "layout_check")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".fer-gallery figure")
             and d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"] td') and plots_drawn(d),
             60, "a gallery, a table and charts on Runs", shots, "layout_check")
    assert layout_defects(browser) == [], "the Runs page has layout defects before any were made"
    ActionChains(browser).move_to_element(browser.find_element(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')).perform()
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="stElementToolbar"]'), \
        "hovering a chart shows no stElementToolbar: the check of Streamlit's toolbar measures nothing"
    browser.execute_script("""
        document.querySelector('.fer-gallery figure').style.width = '300px';
        const chart = document.querySelector('[data-testid="stPlotlyChart"]');
        const label = [...chart.querySelectorAll('.main-svg text')].find(t => t.textContent.trim()).getBoundingClientRect();
        Object.assign(chart.querySelector('.modebar').style, {position: 'fixed', left: label.left + 'px', top: label.top + 'px'});
        document.querySelector('[data-testid="stDataFrame"] td').textContent = 'None';
        document.querySelector('[data-testid="stCaptionContainer"]').append(' took about 2 minutes');
        const grid = document.querySelector('[data-testid="stDataFrame"] canvas').getContext('2d');
        grid.setTransform(1, 0, 0, 1, 0, 0);  // as the grid draws: two column headers, then a cell too long for its column
        grid.textAlign = 'left';
        grid.fillText('first', 10, 10); grid.fillText('second', 60, 10); grid.fillText('x'.repeat(80), 10, 40);""")
    found = "\n".join(layout_defects(browser))
    for defect in ("px tile is drawn 300 px wide", "Plotly's toolbar covers", 'a table cell reads "None"',
                   'the page says "about 2 minutes"', 'a table cell reads "xxxxxxxx'):
        assert defect in found, f"the layout check missed '{defect}'; it found:\n{found}"


def test_the_server_log_has_no_watcher_noise_and_no_traceback(server, project):
    """After every flow above: Streamlit's file watcher (off) never walked .venv/ ("Inotify queue
    overflowed"), and no script run logged a traceback."""
    log = (project / "streamlit.log").read_text(errors="replace")
    assert "Inotify" not in log, "the file watcher is on: " + next(l for l in log.splitlines() if "Inotify" in l)
    assert "Traceback" not in log, "the server logged a traceback:\n" + log[log.index("Traceback"):][:3000]
