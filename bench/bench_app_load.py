"""Many users at once: concurrent browser sessions through the demo flow, and the server's memory.

    .venv/bin/python bench/bench_app_load.py [--sessions 16] [--own-runs 4] [--after 180] [--cache warm|cold]

Starts ``streamlit run app/main.py`` once and warms it (one page through the
XDF demo until its classes are in), then opens ``--sessions`` browser pages at
once (one Chromium; each page is its own Streamlit session) and takes each through the demo flow: the field picture, the boxes,
a threshold change, a click on a detection and its panel.  ``--own-runs`` of
the sessions open a link asking for a run nobody made yet (another detector
floor, or sep), so model runs queue up while the other pages load; their
pages show the field and their place in the queue.  Prints each session's
times, the number of failed sessions (a timeout, a Streamlit exception box or
the app's own error message; target 0), the share of pages showing their
field within 10 s (target all), and the server's resident memory (VmRSS,
sampled every 0.1 s): idle after warming, peak during the sessions, and
``--after`` seconds after they all closed.

The browsers run on the server's 2 cores too.  ``--cache warm`` (default) opens the
pages in the browser context that warmed the server, so the app's 9 MB of JavaScript
(Streamlit's, Plotly's; served with ``immutable`` caching) is fetched and compiled once,
as for returning users; ``--cache cold`` gives each page a fresh context, as 16 first
visits at once on one machine: every page then downloads and compiles it all, which on
2 shared cores costs more than the app's own work.
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
    BOXES_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DETECTION_POINTS_JS,
    HAS_BOXES_JS,
    PICTURE,
    THRESHOLD_TRACK,
    streamlit_server,
    track_click_position,
)

#: Pages share one headless Chromium: keep the ones not in front from being throttled.
LOAD_ARGS = [*CHROMIUM_ARGS, "--disable-background-timer-throttling",
             "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]
SHOWING = re.compile(r"Showing (\d+) of (\d+) detections")
SETTLED_JS = """([boxes, old]) => {
    const m = document.body.innerText.match(/Showing (\\d+) of (\\d+) detections/);
    if (!m || Number(m[1]) === old) return false;
    return eval(boxes)() === Number(m[1]);
}"""
#: Links asking for runs nobody made yet (each a different run key).
OWN_RUNS = ("/?floor=0.1", "/?floor=0.05", "/?method=sep", "/?method=sep&classify=0",
            "/?floor=0.25", "/?flips=1")


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


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


async def warm(context, url: str) -> float:
    """One page through the demo until its classes are in; its duration."""
    page = await context.new_page()
    t0 = time.perf_counter()
    await page.goto(url, wait_until="commit")
    await page.wait_for_function(HAS_BOXES_JS, timeout=900_000)
    await page.wait_for_function("() => !document.body.innerText.includes('so far')", timeout=900_000)
    await page.close()
    return time.perf_counter() - t0


async def one_session(browser, shared, url: str, index: int, timeout_ms: int, shots: Path | None,
                      link: str = "") -> dict:
    """The demo flow for one user (a page of ``shared``, else of a context of its own); returns
    its timings or its error."""
    context = shared or await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    t0 = time.perf_counter()
    out: dict = {"session": index, "link": link or "/"}
    step = "opening the page"
    try:
        await page.goto(url + link, wait_until="commit", timeout=timeout_ms)
        await page.wait_for_selector(PICTURE, state="attached", timeout=timeout_ms)
        out["field_s"] = time.perf_counter() - t0
        step = "waiting for the boxes"
        await page.wait_for_function(SETTLED_JS, arg=[BOXES_JS, -1], timeout=timeout_ms)
        out["boxes_s"] = time.perf_counter() - t0
        if link:
            queue = await page.get_by_text("Waiting in the queue").count()
            out["queue_shown"] = bool(queue)
        step = "moving the threshold"
        text = await page.get_by_text(SHOWING).first.inner_text()
        visible = int(SHOWING.search(text).group(1))
        track = await page.locator(THRESHOLD_TRACK).first.bounding_box()
        for fraction in (0.3 + 0.02 * (index % 10), 0.6, 0.9):
            t1 = time.perf_counter()
            await page.mouse.click(*track_click_position(track, fraction))
            await page.wait_for_function(SETTLED_JS, arg=[BOXES_JS, visible], timeout=timeout_ms)
            out["threshold_s"] = time.perf_counter() - t1
            visible = await page.evaluate(BOXES_JS)
            if visible:
                break
        step = "clicking a detection"
        points = await page.evaluate(DETECTION_POINTS_JS)
        await page.mouse.click(*points[(index * 37) % len(points)])
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
        await (page.close() if shared else context.close())
    return out


async def drive(url: str, sessions: int, own_runs: int, timeout_ms: int, shots: Path | None,
                sampler: PeakSampler, pid: int, cache: str) -> tuple[float, float, list[dict], float, dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=LOAD_ARGS)
        try:
            first = await browser.new_context(viewport={"width": 1400, "height": 1000})
            warm_s = await warm(first, url)
            shared = first if cache == "warm" else None
            idle = rss_mib(pid)
            sampler.start()
            t0, server0, busy0 = time.perf_counter(), cpu_s(pid), machine_busy_s()
            links = [OWN_RUNS[i % len(OWN_RUNS)] if i < own_runs else "" for i in range(sessions)]
            results = await asyncio.gather(*(one_session(browser, shared, url, i, timeout_ms, shots, link)
                                             for i, link in enumerate(links)))
            cpu = {"server": cpu_s(pid) - server0, "all": machine_busy_s() - busy0}
            return warm_s, idle, list(results), time.perf_counter() - t0, cpu
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--own-runs", type=int, default=4,
                        help="sessions opening a link to a run nobody made yet (queued runs)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per step, seconds")
    parser.add_argument("--after", type=float, default=180.0,
                        help="seconds to wait after the sessions closed before the last RSS reading")
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--cache", choices=("warm", "cold"), default="warm",
                        help="warm: pages share the warmed browser cache; cold: a fresh context each")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is absent (apt-get install chromium)")
        return 0
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, proc):
        sampler = PeakSampler(proc.pid)
        warm_s, idle, results, wall, cpu = asyncio.run(drive(
            url, args.sessions, args.own_runs, int(args.timeout * 1000), args.screenshots, sampler,
            proc.pid, args.cache))
        closed = rss_mib(proc.pid)
        time.sleep(args.after)
        sampler.stop.set()
        sampler.join()
        after = rss_mib(proc.pid)
    errors = [r for r in results if "error" in r]
    print(f"{args.sessions} concurrent sessions ({args.own_runs} of them asking for their own run, "
          f"{args.cache} browser cache) through the demo flow (field, boxes, threshold, a detection "
          f"opened) on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; server warmed "
          f"by one page in {warm_s:.0f} s:")
    for r in results:
        if "error" in r:
            print(f"  session {r['session']} {r['link']}: ERROR {r['error']}")
        else:
            queue = " (queue place shown)" if r.get("queue_shown") else ""
            print(f"  session {r['session']} {r['link']}: field {r['field_s']:.1f} s, boxes "
                  f"{r['boxes_s']:.1f} s{queue}, threshold {r['threshold_s']:.2f} s, detection opened "
                  f"{r['opened_s']:.1f} s")
    fields = [r["field_s"] for r in results if "field_s" in r]
    print(f"errors: {len(errors)} of {args.sessions} (target 0)")
    if fields:
        within = sum(f <= 10.0 for f in fields)
        print(f"field shown: median {statistics.median(fields):.1f} s, max {max(fields):.1f} s; "
              f"{within} of {args.sessions} within 10 s (target all)")
    done = [r["opened_s"] for r in results if "error" not in r]
    if done:
        print(f"flow time: median {statistics.median(done):.1f} s, max {max(done):.1f} s; all "
              f"sessions done in {wall:.1f} s")
    print(f"CPU during the sessions: {cpu['all']:.0f} s busy of {os.cpu_count() * wall:.0f} s the "
          f"cores had; the server {cpu['server']:.0f} s ({cpu['server'] / max(cpu['all'], 1e-9):.0%}), "
          f"the browsers and the rest {cpu['all'] - cpu['server']:.0f} s")
    print(f"server RSS: {idle:.0f} MiB idle after warming, peak {sampler.peak:.0f} MiB during the "
          f"sessions, {closed:.0f} MiB as they closed, {after:.0f} MiB {args.after:.0f} s later")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
