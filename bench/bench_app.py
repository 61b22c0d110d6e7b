"""App speed on this machine: filtering, first render, a full run, a stretch change.

    .venv/bin/python bench/bench_app.py [--repeats 20] [--no-browser]

Targets (issue 5), each printed with its measured figure:

- filter: a threshold/class change with 1,000 detections updates the view in
  <= 0.2 s.  Measured two ways: the app's own work (filter, order, Plotly
  figure with JSON encoding, table with thumbnails as Arrow) on the first
  1,000 sep detections of the XDF demo, and a whole AppTest rerun of the app
  script after moving the slider.
- first render: the demo field with its boxes drawn within 5 s of opening the
  page once models are cached (Chromium via Playwright; a second page load).
- full run: render, detect and classify the 2048x2048 synthetic demo field
  within 5 s (the best installed detector and the classifier when shipped).
- stretch change: redraw within 0.5 s (render the display preview of the
  2048x2048 field and encode it, the app's work after a stretch change).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".yolo_config"))


def median_time(fn, repeats: int) -> tuple[float, float]:
    """(median, max) wall time of ``fn()`` in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), max(times)


def bench_filter(repeats: int) -> None:
    import numpy as np
    import plotly.io as pio
    import pyarrow as pa

    from app.caching import data_uri, thumbnail
    from app.field_figure import field_figure
    from app.review_panel import TABLE_MAX_ROWS, Filters, table_frame, visible
    from galaxy_core.catalog.table import to_frame
    from galaxy_core.display import render
    from galaxy_core.io.demo import xdf_field
    from galaxy_core.pipeline import RunSettings, run

    field = xdf_field()
    dets = run(field, settings=RunSettings(method="sep", classify=False))[:1000]
    df = to_frame(dets)
    rgb = render(field)
    uri = data_uri(rgb, fmt="JPEG")
    thumbs = {d.id: data_uri(thumbnail(rgb, d, origin_lower=False)) for d in dets}
    thresholds = [0.3 + 0.6 * i / max(1, repeats - 1) for i in range(repeats)]
    state = {"i": 0}

    def update() -> None:
        t = thresholds[state["i"] % len(thresholds)]
        state["i"] += 1
        shown = visible(df, Filters(t, ("object",), "Uncertain first", False))
        fig = field_figure(uri, block=1, width=field.width, height=field.height,
                           origin_lower=False, df=shown)
        pio.to_json(fig, validate=False)
        head = shown.head(TABLE_MAX_ROWS)
        pa.Table.from_pandas(table_frame(head, [thumbs[i] for i in head["id"]]))

    med, worst = median_time(update, repeats)
    print(f"filter (app work), {len(df)} detections: median {med:.3f} s, max {worst:.3f} s "
          f"(target <= 0.2 s)")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=300)
    at.run()
    scores = next(d.value for d in at.dataframe if d.key == "table")["score"]
    lo, hi = np.quantile(scores, [0.05, 0.95])  # thresholds that change what is shown
    times = []
    for t in np.linspace(lo, hi, repeats):
        t0 = time.perf_counter()
        at.slider(key="threshold").set_value(round(t, 2)).run()
        times.append(time.perf_counter() - t0)
    n = next(c.value for c in at.caption if c.value.startswith("Showing "))
    print(f"filter (AppTest rerun of the whole script, XDF demo, {n.split('.')[0]}): "
          f"median {statistics.median(times):.3f} s, max {max(times):.3f} s (target <= 0.2 s)")


def bench_full_run() -> None:
    from app.run_panel import default_floor
    from galaxy_core import pipeline
    from galaxy_core.display import default_settings, render
    from galaxy_core.io.demo import synthetic_field

    field = synthetic_field()
    method = pipeline.RunSettings().resolved_method()
    floor = default_floor(method)  # the app's
    settings = pipeline.RunSettings(tta=False, min_score=floor)
    classify = pipeline.classifier_available()
    if method == "yolo":
        pipeline.load_detector()
    if classify:
        pipeline.load_classifier()
    t0 = time.perf_counter()
    dets = pipeline.run(field, None, settings)
    dt = time.perf_counter() - t0
    print(f"full run on the {field.width}x{field.height} synthetic demo field: {dt:.2f} s, "
          f"{len(dets)} detections scoring {floor} or more, detector {method}, classifier "
          f"{'on (no TTA)' if classify else 'not installed'} (target <= 5 s)")
    t0 = time.perf_counter()
    rgb = render(field, default_settings(field))
    t1 = time.perf_counter()
    found = pipeline.detect(field, rgb, settings)
    t2 = time.perf_counter()
    if classify:
        pipeline.classify(rgb, found, tta=False)
    t3 = time.perf_counter()
    print(f"  of which: render {t1 - t0:.2f} s, detect {t2 - t1:.2f} s, classify {t3 - t2:.2f} s")


def bench_stretch(repeats: int) -> None:
    from app.caching import DISPLAY_MAX_SIDE, data_uri
    from galaxy_core.display import RenderSettings, downsample, preview_scale, render
    from galaxy_core.io.demo import synthetic_field

    field = synthetic_field()
    factor = preview_scale(field, DISPLAY_MAX_SIDE)
    small = downsample(field, factor)
    stretches = ["asinh", "sqrt", "log", "linear"]
    state = {"i": 0}

    def redraw() -> None:
        s = RenderSettings(stretch=stretches[state["i"] % len(stretches)])
        state["i"] += 1
        data_uri(render(small, s), fmt="JPEG")
        render(downsample(small, 2), s)  # the Stretch tab's 512 px preview

    med, worst = median_time(redraw, repeats)
    print(f"stretch change redraw ({field.width}x{field.height} field, display {small.width} px + "
          f"preview): median {med:.3f} s, max {worst:.3f} s (target <= 0.5 s)")


def bench_first_render(cached_loads: int = 6) -> None:
    """Page load to the first detection marker drawn: one cold server, then ``cached_loads`` more.

    This machine's speed drifts by about 30 % over minutes, so the cached figure is a median.
    """
    from app.local_server import CHROMIUM, MARKERS, launch_chromium, streamlit_server

    if not CHROMIUM.exists():
        print(f"first render: skipped, {CHROMIUM} is absent")
        return
    from playwright.sync_api import sync_playwright

    with streamlit_server() as (url, _proc), sync_playwright() as p:
        browser = launch_chromium(p)
        times = []
        for _ in range(1 + cached_loads):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_selector(MARKERS, timeout=180_000)
            times.append(time.perf_counter() - t0)
            page.close()
        browser.close()
    cached = times[1:]
    print(f"first render of the demo field with boxes: cold server {times[0]:.2f} s; once cached, "
          f"median {statistics.median(cached):.2f} s over {len(cached)} loads "
          f"({min(cached):.2f}-{max(cached):.2f} s) (target <= 5 s once cached)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    print(f"torch threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs")
    bench_filter(args.repeats)
    bench_stretch(args.repeats)
    bench_full_run()
    if not args.no_browser:
        bench_first_render()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
