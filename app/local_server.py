"""Start the Streamlit app as a server and drive it with Playwright's Chromium.

Used by the browser tests and the app benches (bench/bench_app*.py).  Chromium is the
Debian package at /usr/bin/chromium (Playwright's own browsers are never
downloaded).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from app.field_figure import LABELLED_SHAPE, SEP_TRACE

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def streamlit_server(*, port: int | None = None, timeout_s: float = 90.0, log_path: Path | None = None):
    """Run ``streamlit run app/main.py`` until the block ends; yields (url, Popen)."""
    port = port or free_port()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(ROOT / ".yolo_config")}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
         "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout_s} s")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()


def launch_chromium(playwright):
    """Debian's Chromium, headless, with no background network traffic."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


#: CSS selector of the field's picture: the plain image shown before Plotly loads, or the plot's.
PICTURE = ".st-key-field_picture img, .st-key-field_plot .imagelayer image"

#: JavaScript: the number of detection boxes the field plot has drawn (the corners of its box
#: shapes' paths, sep's and the labelled outlines left out), or -1 before the plot is drawn.
BOXES_JS = """() => {
    const gd = document.querySelector('.st-key-field_plot .js-plotly-plot');
    if (!gd || !gd._fullLayout || !gd.querySelector('.main-svg')) return -1;
    const shapes = gd._fullLayout.shapes || [];
    let n = 0;
    for (const p of gd.querySelectorAll('.shapelayer path[data-index]')) {
        const s = shapes[Number(p.getAttribute('data-index'))];
        if (!s || s.type !== 'path' || NOT_BOXES.includes(s.legendgroup)) continue;
        n += ((p.getAttribute('d') || '').match(/M/g) || []).length;
    }
    return n; }""".replace("NOT_BOXES", json.dumps([SEP_TRACE, LABELLED_SHAPE[0]]))

#: JavaScript: true once the field plot shows boxes.
HAS_BOXES_JS = f"() => ({BOXES_JS})() > 0"

#: JavaScript: [x, y] in page pixels of the centre of every detection in the field plot (the
#: points of its marker traces, which carry the hover text and the clicks; Plotly draws none).
DETECTION_POINTS_JS = """() => {
    const gd = document.querySelector('.st-key-field_plot .js-plotly-plot');
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
    return gd.calcdata
        .filter(cd => cd[0] && cd[0].trace.type === 'scatter' && cd[0].trace.mode === 'markers')
        .flatMap(cd => cd.filter(p => Number.isFinite(p.x) && Number.isFinite(p.y))
                         .map(p => [r.left + xa.c2p(p.x), r.top + ya.c2p(p.y)])); }"""


#: The track of the confidence-threshold slider (0 at its left end, 1 at its right).
THRESHOLD_TRACK = ".st-key-threshold [role='group'] > div"


def track_click_position(box: dict, fraction: float) -> tuple[float, float]:
    """Where to click on a slider track's bounding box to set ``fraction`` of its range."""
    return box["x"] + fraction * box["width"], box["y"] + box["height"] / 2
