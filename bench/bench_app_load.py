"""Eight users at once: concurrent browser sessions through the demo flow.

    .venv/bin/python bench/bench_app_load.py [--sessions 8] [--timeout 300]

Starts ``streamlit run app/main.py`` once, then drives ``--sessions`` browser
pages (one Chromium, one context per user, so each is its own Streamlit
session) at the same time through the demo flow: open the page and wait for
the boxes, move the confidence slider and wait for the view to change, click
a detection and wait for its panel.  Prints the number of failed sessions
(timeouts, a Streamlit exception box, or the app's own error message; target
0), each session's time, and the server's peak resident memory (VmRSS of the
server process, sampled every 0.1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.local_server import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    MARKERS,
    THRESHOLD_TRACK,
    streamlit_server,
    track_click_position,
)

#: Eight pages share one headless Chromium: keep the ones not in front from being throttled.
LOAD_ARGS = [*CHROMIUM_ARGS, "--disable-background-timer-throttling",
             "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]

SHOWING = re.compile(r"Showing (\d+) of (\d+) detections")
SETTLED_JS = """([sel, old]) => {
    const m = document.body.innerText.match(/Showing (\\d+) of (\\d+) detections/);
    if (!m || Number(m[1]) === old) return false;
    return document.querySelectorAll(sel).length === Number(m[1]);
}"""


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class PeakSampler(threading.Thread):
    """Samples a process's RSS every ``period`` seconds and keeps the peak."""

    def __init__(self, pid: int, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(self.period)


async def one_session(browser, url: str, index: int, timeout_ms: int, shots: Path | None) -> dict:
    """The demo flow for one user; returns its timings or its error."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    t0 = time.perf_counter()
    out: dict = {"session": index}
    step = "opening the page"
    try:
        await page.goto(url)
        await page.wait_for_function(SETTLED_JS, arg=[MARKERS, -1], timeout=timeout_ms)
        out["boxes_s"] = time.perf_counter() - t0
        step = "moving the threshold"
        text = await page.get_by_text(SHOWING).first.inner_text()
        visible = int(SHOWING.search(text).group(1))
        track = await page.locator(THRESHOLD_TRACK).first.bounding_box()
        # a threshold that changes the view and leaves boxes to click (scores differ per detector)
        for fraction in (0.3 + 0.02 * index, 0.6 + 0.02 * index, 0.9):
            await page.mouse.click(*track_click_position(track, fraction))
            await page.wait_for_function(SETTLED_JS, arg=[MARKERS, visible], timeout=timeout_ms)
            visible = await page.locator(MARKERS).count()
            if visible:
                break
        out["filtered_s"] = time.perf_counter() - t0
        step = "clicking a detection"
        markers = page.locator(MARKERS)
        n = await markers.count()
        box = await markers.nth((index * 37) % n).bounding_box()
        await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await page.get_by_role("heading", name=re.compile(r"^#\d+ ")).first.wait_for(timeout=timeout_ms)
        out["opened_s"] = time.perf_counter() - t0
        if await page.locator("[data-testid='stException']").count():
            out["error"] = "a Streamlit exception box is shown"
        elif await page.get_by_text("Something went wrong").count():
            out["error"] = "the app showed its generic error message"
        if shots is not None:
            await page.screenshot(path=str(shots / f"load_session_{index}.png"))
    except Exception as err:  # a timeout or a broken page is this session's failure
        out["error"] = f"{step}: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
    finally:
        await context.close()
    return out


async def drive(url: str, sessions: int, timeout_ms: int, shots: Path | None) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=LOAD_ARGS)
        try:
            return await asyncio.gather(*(one_session(browser, url, i, timeout_ms, shots)
                                          for i in range(sessions)))
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0, help="per step, seconds")
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is absent (apt-get install chromium)")
        return 0
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, proc):
        idle = rss_mib(proc.pid)
        sampler = PeakSampler(proc.pid)
        sampler.start()
        t0 = time.perf_counter()
        results = asyncio.run(drive(url, args.sessions, int(args.timeout * 1000), args.screenshots))
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        after = rss_mib(proc.pid)
    errors = [r for r in results if "error" in r]
    print(f"{args.sessions} concurrent sessions through the demo flow (open, wait for boxes, move "
          f"the threshold, click a detection) on {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}:")
    for r in results:
        if "error" in r:
            print(f"  session {r['session']}: ERROR {r['error']}")
        else:
            print(f"  session {r['session']}: boxes {r['boxes_s']:.1f} s, filtered "
                  f"{r['filtered_s']:.1f} s, detection opened {r['opened_s']:.1f} s")
    done = [r["opened_s"] for r in results if "error" not in r]
    print(f"errors: {len(errors)} of {args.sessions} (target 0)")
    if done:
        print(f"flow time: median {statistics.median(done):.1f} s, max {max(done):.1f} s; "
              f"all sessions done in {wall:.1f} s")
    print(f"server RSS: idle before {idle:.0f} MiB, peak {sampler.peak:.0f} MiB, after {after:.0f} MiB")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
