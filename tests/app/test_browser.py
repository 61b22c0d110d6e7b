"""The app in a real browser: Debian's Chromium driven by Playwright (sync API).

Starts ``streamlit run app/main.py`` on a free port, waits for the demo field
and its boxes, clicks the confidence slider's track and checks the
number of boxes drawn in the Plotly SVG changes, clicks a detection's marker
and checks its detail panel opens.  Screenshots go to tests/screenshots/
(git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.local_server import (
    CHROMIUM,
    MARKERS,
    THRESHOLD_TRACK,
    launch_chromium,
    streamlit_server,
    track_click_position,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
SHOWING = re.compile(r"Showing (\d+) of (\d+) detections")


@pytest.fixture(scope="module")
def browser_page():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    with streamlit_server(log_path=SHOTS / "server.log") as (url, _proc), \
            sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(url)
            yield page
        finally:
            browser.close()


def showing(page) -> tuple[int, int]:
    text = page.get_by_text(SHOWING).first.inner_text()
    visible, total = SHOWING.search(text).groups()
    return int(visible), int(total)


def settled_markers(page, *, not_visible: int | None = None, timeout_ms: int = 60_000) -> int:
    """The number of markers drawn once it equals the caption's count of visible detections
    (and that count differs from ``not_visible``)."""
    page.wait_for_function(
        """([sel, old]) => {
            const m = document.body.innerText.match(/Showing (\\d+) of (\\d+) detections/);
            if (!m || Number(m[1]) === old) return false;
            return document.querySelectorAll(sel).length === Number(m[1]);
        }""", arg=[MARKERS, -1 if not_visible is None else not_visible], timeout=timeout_ms)
    page.wait_for_timeout(500)  # let Plotly finish drawing
    return page.locator(MARKERS).count()


def test_demo_threshold_and_click(browser_page):
    page = browser_page
    n_before = settled_markers(page, timeout_ms=120_000)
    visible, total = showing(page)
    assert n_before == visible > 0
    page.screenshot(path=str(SHOTS / "01_demo_field.png"))

    track = page.locator(THRESHOLD_TRACK).first.bounding_box()
    page.mouse.click(*track_click_position(track, 0.75))
    n_after = settled_markers(page, not_visible=visible)
    visible_after, total_after = showing(page)
    assert total_after == total
    assert n_after == visible_after < n_before
    page.screenshot(path=str(SHOTS / "02_threshold_moved.png"))

    marker = page.locator(MARKERS).nth(n_after // 2)
    box = marker.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    heading = page.get_by_role("heading", name=re.compile(r"^#\d+ "))
    heading.first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "03_detection_opened.png"))
    column = page.locator("[data-testid='stColumn']").filter(has=heading.first)
    column.last.screenshot(path=str(SHOTS / "04_detection_panel.png"))
    opened = heading.first.inner_text()

    # a click on the first table row (the grid is a canvas: click where the row is drawn)
    grid = page.locator(".st-key-table [data-testid='stDataFrame']")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 36 + 26)
    page.wait_for_function(
        "(old) => [...document.querySelectorAll('h3')].some(h => /^#\\d+ /.test(h.innerText)"
        " && h.innerText !== old)", arg=opened, timeout=30_000)
    page.screenshot(path=str(SHOTS / "05_table_row_opened.png"))

    # exports are made when clicked (deferred downloads): the CSV holds the rows shown
    page.get_by_role("tab", name="Export").click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="CSV", exact=True).click()
    lines = Path(download.value.path()).read_text().strip().splitlines()
    assert lines[0].startswith("id,x_min,y_min,x_max,y_max,x,y,score,label")
    assert len(lines) - 1 == visible_after
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Annotated PNG").click()
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.screenshot(path=str(SHOTS / "06_export_tab.png"))
    assert not page.get_by_text("Traceback").count()
