"""The Streamlit app through streamlit.testing.v1.AppTest: every control, the error paths, and the
state the user owns (no setting changes by itself, no model re-runs unasked, the URL holds the view).

The tests make their own small FITS and picture files; the synthetic demo
field is swapped for a 256 px one so that the suite stays fast.  Runs happen on
the app's worker thread; :func:`settle` reruns the page until the session's
runs are done, as the page's own polling would.  Where a test needs a
particular run (progress stages, trusted and untrusted classes), ``pipeline.run``
is replaced by a scripted one.  The learned classifier is a real, untrained
ResNet18 (``Classifier`` with random weights): these tests check that the app
shows what the model says, not what it says.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image
from streamlit.testing.v1 import AppTest

from galaxy_core import pipeline, shipped
from galaxy_core.catalog.triage import PENDING, UNTRUSTED
from galaxy_core.display import render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io import demo
from galaxy_core.io.synthetic import make_wcs
from galaxy_core.io.synthetic import synthetic_field as make_synthetic
from galaxy_core.types import CLASS_NAMES, Detection

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
SOURCE = {
    "xdf": "Hubble XDF (demo picture)",
    "synthetic": "Synthetic 3-band FITS (demo)",
    "upload": "Upload a FITS file or a picture",
    "bands": "Upload three FITS files as R, G, B",
}


@pytest.fixture(autouse=True)
def small_synthetic_demo(monkeypatch):
    """The synthetic demo at 256 px (the 2048 px one takes seconds to make); no stored runs."""
    from app import caching

    small = make_synthetic(seed=3, size=256, n_galaxies=12, n_stars=3)[0]
    monkeypatch.setitem(demo.DEMO_FIELDS, "synthetic", lambda: small)
    for store in (caching.field_store(), caching.run_store(), caching.preview_store()):
        store.clear()
    yield
    for store in (caching.field_store(), caching.run_store(), caching.preview_store()):
        store.clear()


def app_test() -> AppTest:
    """The app in a browser that has reported its window's size (AppTest has no browser)."""
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state["window"] = (1600, 1000)
    return at


def new_app(*, classify: bool = False, method: str | None = "sep") -> AppTest:
    """The app on the sep baseline with the shipped classifier off (fast and the same whether
    or not the learned models are installed), unless asked otherwise."""
    at = app_test()
    at.session_state["classify"] = classify
    if method is not None:
        at.session_state["method"] = method
    return at


def pending(at: AppTest) -> bool:
    return "pending" in at.session_state and bool(at.session_state["pending"])


def settle(at: AppTest, timeout_s: float = 120.0) -> AppTest:
    """Rerun the page until this session's runs are done (what its polling fragment does)."""
    deadline = time.monotonic() + timeout_s
    while pending(at) and time.monotonic() < deadline:
        time.sleep(0.1)
        at.run()
    assert not pending(at), "the run did not finish"
    assert_clean(at)
    return at


def started(source: str = "xdf", *, classify: bool = False) -> AppTest:
    at = new_app(classify=classify)
    at.session_state["source"] = SOURCE[source]
    at.run()
    return settle(at)


def open_tab(at: AppTest, name: str) -> AppTest:
    """Switch the app's lazy main tabs (only the open tab's content is drawn)."""
    from app.tabs import TAB_KEY, TABS

    assert name in TABS
    at.session_state[TAB_KEY] = name
    return at.run()


def assert_clean(at: AppTest) -> None:
    """No traceback reached the page."""
    assert not at.exception, [e.value for e in at.exception]


def table_of(at: AppTest) -> pd.DataFrame:
    """The detection table as shown."""
    return next(d.value for d in at.dataframe if d.key == "table")


def shown_counts(at: AppTest) -> tuple[int, int]:
    """(visible, total) from the 'Showing N of M detections' status line."""
    for c in at.caption:
        m = re.match(r"Showing (\d+) of (\d+) detections", c.value)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise AssertionError(f"no 'Showing' caption in {[c.value for c in at.caption]}")


def field_spec(at: AppTest) -> dict:
    """The field figure's plotly.js spec as sent to the browser."""
    chart = next(c for c in at.get("plotly_chart") if "field_plot" in c.proto.id
                 or json.loads(c.proto.spec)["data"][0].get("name") == "field")
    return json.loads(chart.proto.spec)


def _one(value):
    """A query parameter's value (AppTest gives a string or a list of them)."""
    return value[0] if isinstance(value, list) else value


def stretch_previews(at: AppTest) -> list:
    """The Stretch tab's preview pictures on the page (not the field's own picture)."""
    return [i for i in at.get("image") if any(x.caption.startswith("Preview") for x in i.proto.imgs)]


def field_image(spec: dict) -> str:
    """The source of the field's render in a field figure (a URL the server serves, or a
    data URI), checked to be the one layout image."""
    (image,) = spec["layout"]["images"]
    assert image["name"] == "field" and image["source"]
    return image["source"]


def legend_names(spec: dict) -> list[str]:
    return [s["name"] for s in spec["layout"]["shapes"] if s.get("showlegend")]


def fits_bytes(data: np.ndarray, *, header: dict | None = None, extra_hdus: int = 0,
               wcs: bool = True) -> bytes:
    """A FITS file in memory: one image HDU (plus ``extra_hdus`` more images)."""
    hdr = make_wcs(data.shape[0]).to_header() if wcs else fits.Header()
    for key, value in (header or {}).items():
        hdr[key] = value
    hdus = [fits.PrimaryHDU(data.astype(np.float32), header=hdr)]
    for i in range(extra_hdus):
        hdus.append(fits.ImageHDU((data * (i + 2)).astype(np.float32), name=f"EXT{i + 1}"))
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def sky(size: int = 128, seed: int = 0, n: int = 6) -> np.ndarray:
    """Noise with ``n`` bright Gaussian blobs."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0.0, 1.0, (size, size))
    yy, xx = np.mgrid[:size, :size]
    for _ in range(n):
        x0, y0 = rng.uniform(10, size - 10, 2)
        img += 40 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 2.5**2))
    return img


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def untrained_classifier(input_size: int = 64):
    """A real ResNet18 classifier with random weights (no file, no download)."""
    import torch
    import torchvision

    from galaxy_core.morphology.classifier import Classifier
    from galaxy_core.morphology.framing import FramingSettings

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=len(CLASS_NAMES))
    return Classifier(model, class_names=CLASS_NAMES, input_size=input_size, mean=(0.1,) * 3,
                      std=(0.2,) * 3, framing=FramingSettings(), tta=False)


SURE = (0.9, 0.02, 0.02, 0.02, 0.02, 0.02)


def scripted_detections(n: int = 12) -> list[Detection]:
    """Classified detections: the even ones large and trusted, the odd ones small and not."""
    out = []
    for i in range(1, n + 1):
        x, y = 20.0 * i, 15.0 * i
        w = 30.0 if i % 2 == 0 else 6.0
        out.append(Detection(i, x - w / 2, y - w / 2, x + w / 2, y + w / 2, x, y, 0.3 + 0.05 * i,
                             "Spiral", SURE, extent_px=w, peak_snr=100.0, morph_accuracy=0.8,
                             morph_reliable=w > 24, detector_label="galaxy"))
    return out


class ScriptedRun:
    """A stand-in for ``pipeline.run``: renders, then reports its stages, each held until the
    test releases it (``step()``); counts its calls."""

    def __init__(self, *, gated: bool = False, detections: list[Detection] | None = None) -> None:
        self.calls = 0
        self.gated = gated
        self.gate = threading.Semaphore(0)
        self.detections = detections or scripted_detections()

    def step(self) -> None:
        self.gate.release()

    def _wait(self) -> None:
        if self.gated:
            assert self.gate.acquire(timeout=60)

    def __call__(self, field, render_settings=None, settings=None, *, detector=None, classifier=None,
                 progress=None, on_partial=None):
        self.calls += 1
        settings = settings or pipeline.RunSettings(method="sep")
        render_settings = render_settings
        rgb = render(field, render_settings)
        rgb.flags.writeable = False
        classified = settings.classify

        def result(dets, done=False):
            return pipeline.RunResult(tuple(dets), rgb=rgb, method="sep", floor=settings.floor,
                                      classified=classified, settings=settings,
                                      render=render_settings, seconds=0.1, complete=done)
        found = [d.with_(label="galaxy", probs=None, extent_px=None, peak_snr=None,
                         morph_accuracy=None, morph_reliable=None, detector_label=None)
                 for d in self.detections]
        if on_partial:
            on_partial(result(()))
        self._wait()
        if classified:
            if on_partial:
                on_partial(result(found))
            self._wait()
            half = len(found) // 2
            if on_partial:
                on_partial(result(self.detections[:half] + found[half:]))
            self._wait()
            return result(self.detections, done=True)
        return result(found, done=True)


def with_scripted_run(monkeypatch, run: ScriptedRun, *, classify: bool = True) -> AppTest:
    """The app on the synthetic demo with ``pipeline.run`` replaced by ``run``."""
    from app import caching

    monkeypatch.setattr(pipeline, "run", run)
    if classify:
        monkeypatch.setattr(shipped, "classifier_available", lambda: True)
        monkeypatch.setattr(caching, "classifier", lambda: None)
    at = new_app(classify=classify)
    at.session_state["source"] = SOURCE["synthetic"]
    return at


# --- the field first, then the boxes, then the classes -----------------------------------------


def test_the_field_shows_at_once_then_its_boxes_then_the_classes(monkeypatch):
    run = ScriptedRun(gated=True)
    at = with_scripted_run(monkeypatch, run)
    at.run()
    assert_clean(at)
    spec = field_spec(at)
    assert field_image(spec)  # the field's render under the plot
    assert legend_names(spec) == []  # the field, before any box
    assert pending(at) and at.get("progress"), "the run's progress is shown on the page"
    run.step()  # detection done: boxes awaiting their classes
    deadline = time.monotonic() + 30
    while not legend_names(field_spec(at)) and time.monotonic() < deadline:
        time.sleep(0.1)
        at.run()
    assert legend_names(field_spec(at)) == ["awaiting class (12)"]
    assert any("so far" in c.value for c in at.caption)
    run.step()  # half classified: classes fill in, the rest still waits
    while "awaiting class (6)" not in legend_names(field_spec(at)) and time.monotonic() < deadline:
        time.sleep(0.1)
        at.run()
    assert set(legend_names(field_spec(at))) == {"Spiral (3)", "too small / faint to classify (3)",
                                                  "awaiting class (6)"}
    run.step()
    settle(at)
    assert set(legend_names(field_spec(at))) == {"Spiral (6)", "too small / faint to classify (6)"}
    assert not at.get("progress") and run.calls == 1


def test_a_new_page_sends_the_picture_first_and_the_plot_once_its_size_is_known(monkeypatch):
    from app import viewport

    monkeypatch.setattr(pipeline, "run", ScriptedRun())
    at = AppTest.from_file(MAIN, default_timeout=120)  # a page whose size has not come yet
    at.session_state["source"], at.session_state["method"] = SOURCE["synthetic"], "sep"
    at.run()
    assert_clean(at)
    assert not at.get("plotly_chart") and not at.dataframe, "only the picture on the first run"
    assert at.get("image"), "the field's picture"
    at.session_state["window"] = (1600, 1000)  # the browser's report starts the next run
    at.run()
    settle(at)
    assert field_spec(at)["layout"]["height"] == 1000 - 160 and at.dataframe
    late = AppTest.from_file(MAIN, default_timeout=120)  # no report in SIZE_WAIT_S: drawn anyway
    late.session_state["source"], late.session_state["method"] = SOURCE["synthetic"], "sep"
    late.session_state[viewport.WAIT_SINCE] = time.monotonic() - viewport.SIZE_WAIT_S
    late.run()
    settle(late)
    assert field_image(field_spec(late))


def test_untrusted_classes_are_drawn_grey_and_counted_apart(monkeypatch):
    from app.field_figure import NEUTRAL_STYLE

    at = with_scripted_run(monkeypatch, ScriptedRun())
    at.run()
    settle(at)
    shapes = {s["name"]: s for s in field_spec(at)["layout"]["shapes"] if s.get("showlegend")}
    grey = shapes["too small / faint to classify (6)"]
    assert grey["line"]["color"] == NEUTRAL_STYLE[UNTRUSTED][0] and grey["path"].count("M") == 6
    assert shapes["Spiral (6)"]["path"].count("M") == 6
    pills = at.pills[0]
    assert pills.options == ["Spiral 6", "too small / faint to classify 6"]
    assert pills.value == ["Spiral", UNTRUSTED]
    assert any(c.value.startswith("6 of 12 detections are") for c in at.sidebar.caption)
    # their probabilities stay in the table; "uncertain first" puts the trusted ones first
    table = table_of(at)
    assert table["trusted"].tolist()[:6] == ["yes"] * 6 and set(table["trusted"][6:]) == {"no"}
    assert np.allclose(table[list(CLASS_NAMES)].to_numpy(), SURE)
    # on request they are coloured by their class, counted with it
    at.toggle(key="honest").set_value(False).run()
    assert legend_names(field_spec(at)) == ["Spiral (12)"]
    at.toggle(key="honest").set_value(True).run()
    # hiding the untrusted group hides them from the field and the table
    at.pills[0].set_value(["Spiral"]).run()
    assert shown_counts(at)[0] == 6 and set(table_of(at)["trusted"]) == {"yes"}
    assert at.session_state["hidden_groups"] == (UNTRUSTED,)


# --- state the user owns --------------------------------------------------------------------


def test_a_second_upload_keeps_every_setting_the_user_made(monkeypatch):
    monkeypatch.setattr(shipped, "classifier_available", lambda: True)
    monkeypatch.setattr(pipeline, "run", ScriptedRun())
    at = new_app(classify=True)
    at.session_state["source"] = SOURCE["upload"]
    at.run()
    assert at.checkbox(key="classify").value is True
    at.checkbox(key="tta").check().run()
    at.toggle(key="auto_run").set_value(True).run()
    at.slider(key="threshold").set_value(0.4).run()
    at.radio(key="order").set_value("Id").run()
    at.toggle(key="honest").set_value(False).run()
    at.checkbox(key="sep_overlay").check().run()
    before = {k: at.session_state[k] for k in ("classify", "tta", "auto_run", "threshold", "order",
                                               "honest", "sep_overlay", "method")}
    at.file_uploader(key="upload").upload("first.fits", fits_bytes(sky(seed=1)), "application/fits").run()
    settle(at)
    at.file_uploader(key="upload").clear().run()  # the browser drops the old file ...
    assert any("Upload a file" in i.value for i in at.info)
    at.file_uploader(key="upload").upload("second.fits", fits_bytes(sky(seed=2)), "application/fits").run()
    settle(at)  # ... and sends the new one
    after = {k: at.session_state[k] for k in before}
    assert after == before
    assert at.checkbox(key="classify").value is True and at.checkbox(key="tta").value is True
    assert any(c.value.startswith("Showing") and "+ classifier" in c.value for c in at.caption)


def test_a_stretch_change_marks_the_result_out_of_date_and_runs_nothing(monkeypatch):
    run = ScriptedRun()
    at = with_scripted_run(monkeypatch, run)
    at.run()
    settle(at)
    assert run.calls == 1
    total = shown_counts(at)[1]
    preview_before = field_image(field_spec(at))
    at.selectbox(key="stretch@demo:synthetic").set_value("sqrt").run()
    assert_clean(at)
    assert run.calls == 1, "a stretch change must not re-run a model by itself"
    assert shown_counts(at)[1] == total  # the last result stays on screen ...
    warning = next(w.value for w in at.warning if "Out of date" in w.value)
    assert "the stretch" in warning and "takes" in warning  # ... marked stale, with the cost
    assert field_image(field_spec(at)) != preview_before  # the picture follows the stretch
    at.button(key="run_button").click().run()  # the user asks
    settle(at)
    assert run.calls == 2 and not [w for w in at.warning if "Out of date" in w.value]
    # going back to a stretch already run shows its result at once, running nothing
    at.selectbox(key="stretch@demo:synthetic").set_value("asinh").run()
    assert run.calls == 2 and not [w for w in at.warning if "Out of date" in w.value]
    # with "Re-run on every change" the change re-runs, and the page says so
    at.toggle(key="auto_run").set_value(True).run()
    at.selectbox(key="stretch@demo:synthetic").set_value("log").run()
    settle(at)
    assert run.calls == 3


def test_auto_rerun_says_so_while_it_runs(monkeypatch):
    run = ScriptedRun()
    at = with_scripted_run(monkeypatch, run)
    at.run()
    settle(at)
    run.gated = True
    at.toggle(key="auto_run").set_value(True).run()
    at.selectbox(key="stretch@demo:synthetic").set_value("sqrt").run()
    notice = next(i.value for i in at.info if "re-running" in i.value)
    assert "the stretch" in notice and "Re-run on every change" in notice
    assert shown_counts(at)[1] == 12  # the previous result stays until the new one is ready
    for _ in range(3):
        run.step()
    settle(at)
    assert run.calls == 2


def test_the_url_holds_the_view_and_a_new_session_restores_it(monkeypatch):
    monkeypatch.setattr(pipeline, "run", ScriptedRun())
    at = new_app(classify=False)
    at.session_state["source"] = SOURCE["synthetic"]
    at.run()
    settle(at)
    at.selectbox(key="stretch@demo:synthetic").set_value("log").run()
    at.number_input(key="a_log@demo:synthetic").set_value(300.0).run()
    at.slider(key="threshold").set_value(0.55).run()
    at.radio(key="order").set_value("Score, high first").run()
    at.toggle(key="sky_grid").set_value(True).run()
    at.selectbox(key="detection_id").set_value(7).run()
    params = {k: _one(at.query_params[k]) for k in at.query_params}
    assert params["field"] == "demo:synthetic" and params["stretch"] == "log" and params["a"] == "300"
    assert params["thr"] == "0.55" and params["order"] == "Score, high first"
    assert params["grid"] == "1" and params["sel"] == "7" and params["classify"] == "0"
    assert params["method"] == "sep"

    again = app_test()  # a reload, or someone given the link
    for key, value in params.items():
        again.query_params[key] = value
    again.run()
    settle(again)
    assert again.radio(key="source").value == SOURCE["synthetic"]
    assert again.selectbox(key="stretch@demo:synthetic").value == "log"
    assert again.number_input(key="a_log@demo:synthetic").value == 300.0
    assert again.slider(key="threshold").value == 0.55
    assert again.radio(key="order").value == "Score, high first"
    assert again.toggle(key="sky_grid").value is True
    assert again.checkbox(key="classify").value is False and again.selectbox(key="method").value == "sep"
    assert any(h.value.startswith("#7 ") for h in again.subheader), "the open detection"
    # values that do not parse are ignored, never an error
    bad = app_test()
    for key, value in {"field": "upload:nothing:", "thr": "lots", "stretch": "<b>", "sel": "x"}.items():
        bad.query_params[key] = value
    bad.run()
    assert_clean(bad)
    assert any("no longer in the server's memory" in w.value for w in bad.sidebar.warning)


def test_a_reload_finds_the_uploaded_field_while_the_server_holds_it(monkeypatch):
    monkeypatch.setattr(pipeline, "run", ScriptedRun())
    at = started("upload")
    at.file_uploader(key="upload").upload("my.field.fits.gz", fits_bytes(sky(seed=4)), "application/fits").run()
    settle(at)
    params = {k: _one(at.query_params[k]) for k in at.query_params}
    assert params["field"].startswith("upload:")
    again = app_test()
    for key, value in params.items():
        again.query_params[key] = value
    again.run()
    settle(again)
    assert shown_counts(again)[1] > 0
    assert any("my.field" in c.value for c in again.sidebar.caption)


# --- demo mode, filters, table order, overlay ----------------------------------------------


def test_demo_mode_shows_detections_without_any_click():
    from app import review_panel

    at = started()
    visible, total = shown_counts(at)
    assert total > 0 and visible > 0
    assert len(at.get("plotly_chart")) >= 1
    table = table_of(at)
    assert len(table) == min(visible, review_panel.TABLE_MAX_ROWS)
    cutouts = table["cutout"]  # served by the server, not inlined in the page's messages
    assert cutouts.str.fullmatch(r".*/media/[0-9a-f]+\.jpg").all() and cutouts.nunique() > len(table) // 2
    assert not any("MB per file" in c.value for c in at.sidebar.caption)  # demo: no uploader


def test_threshold_filters_without_rerunning_the_model(monkeypatch):
    calls = []
    real_run = pipeline.run
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    at = started()
    assert len(calls) == 1
    _, total = shown_counts(at)
    scores = table_of(at)["score"]
    cut = float(np.round(np.median(scores), 2))
    at.slider(key="threshold").set_value(cut).run()
    visible, total_after = shown_counts(at)
    assert total_after == total
    assert 0 < visible < total
    assert (table_of(at)["score"] >= cut).all()
    at.slider(key="threshold").set_value(1.0).run()
    assert shown_counts(at)[0] == 0
    assert len(calls) == 1, "a threshold change must not re-run the model"


def test_class_filter_hides_unticked_classes():
    at = started()
    (classes,) = at.pills
    assert classes.value == ["object"]  # sep without classifier labels everything 'object'
    classes.set_value([]).run()
    assert shown_counts(at)[0] == 0
    assert_clean(at)


@pytest.mark.parametrize("order", ["Score, high first", "Id", "Uncertain first"])
def test_table_order(order):
    at = started()
    at.radio(key="order").set_value(order).run()
    table = table_of(at)
    if order == "Score, high first":
        assert table["score"].is_monotonic_decreasing
    elif order == "Id":
        assert table["id"].is_monotonic_increasing
    else:  # unclassified rows: lowest score first
        assert table["score"].is_monotonic_increasing


def test_sep_overlay_toggle():
    at = started()
    at.checkbox(key="sep_overlay").check().run()
    assert_clean(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Showing "))
    assert "sep baseline:" in caption
    assert any(n.startswith("sep baseline (") for n in legend_names(field_spec(at)))


def test_hover_anywhere_reads_position_value_and_sky_with_a_wcs():
    at = started("synthetic")
    hover = next(t for t in field_spec(at)["data"] if t.get("name") == "hover grid")
    assert hover["type"] == "heatmap" and "RA, Dec" in hover["hovertemplate"]
    assert "cell of" in hover["hovertemplate"] and hover["customdata"]["dtype"] == "f4"
    at.toggle(key="sky_grid").set_value(True).run()
    spec = field_spec(at)
    assert {t["name"] for t in spec["data"] if t.get("mode") == "lines"} == {"ra grid", "dec grid"}
    assert any("h" in a["text"] for a in spec["layout"]["annotations"])
    xdf = started("xdf")  # a picture: no WCS, no sky grid to switch on
    hover = next(t for t in field_spec(xdf)["data"] if t.get("name") == "hover grid")
    assert "RA, Dec" not in hover["hovertemplate"] and not [t for t in xdf.toggle if t.key == "sky_grid"]


def test_picking_a_detection_opens_it_and_close_closes_it():
    at = started()
    ids = table_of(at)["id"].tolist()
    at.selectbox(key="detection_id").set_value(ids[3]).run()
    assert_clean(at)
    assert any(h.value.startswith(f"#{ids[3]} ") for h in at.subheader)
    assert any("Not classified" in i.value for i in at.info)
    at.button(key="close_detail").click().run()
    assert not any(h.value.startswith("#") for h in at.subheader)


def test_picker_offers_the_table_rows(monkeypatch):
    from app import review_panel

    monkeypatch.setattr(review_panel, "TABLE_MAX_ROWS", 5)
    at = started()
    ids = table_of(at)["id"].tolist()
    assert len(ids) == 5 and shown_counts(at)[0] > 5
    assert any(c.value.startswith("The first 5 of ") for c in at.caption)
    assert at.selectbox(key="detection_id").options == [str(i) for i in ids]


def _picker_script():
    import pandas as pd
    import streamlit as st

    from app import review_panel

    review_panel.TABLE_MAX_ROWS = 3
    if st.session_state.get("click"):
        st.session_state[review_panel.SELECTED] = 9  # what a click on the box of #9 does
    st.write(review_panel.detection_picker(pd.DataFrame({"id": [5, 6, 7, 8, 9]}), list(range(1, 10))))


def test_picker_keeps_a_clicked_detection_beyond_the_table_rows(monkeypatch):
    from app import review_panel

    monkeypatch.setattr(review_panel, "TABLE_MAX_ROWS", review_panel.TABLE_MAX_ROWS)  # restored after
    at = AppTest.from_function(_picker_script).run()
    assert at.selectbox(key="detection_id").options == ["5", "6", "7"]
    at.session_state["click"] = True
    at.run()
    assert_clean(at)
    assert at.selectbox(key="detection_id").options == ["9", "5", "6", "7"]
    assert at.selectbox(key="detection_id").value == 9


def test_the_open_detection_survives_a_tab_switch():
    at = started()
    ids = table_of(at)["id"].tolist()
    at.selectbox(key="detection_id").set_value(ids[2]).run()
    open_tab(at, "Export")
    assert not at.get("plotly_chart") and not [d for d in at.dataframe if d.key == "table"]
    open_tab(at, "Inspect")
    assert_clean(at)
    assert at.selectbox(key="detection_id").value == ids[2]
    assert any(h.value.startswith(f"#{ids[2]} ") for h in at.subheader)


def test_plot_and_table_clicks_select_the_detection(monkeypatch):
    from app import review_panel

    state = {"field_plot": {"selection": {"points": [
        {"curve_number": 1, "customdata": [53.1, -27.8]},  # the hover grid under the boxes
        {"curve_number": 2, "customdata": 17}]}}, "marker_curves": [2, 3]}
    monkeypatch.setattr(review_panel.st, "session_state", state)
    review_panel._select_from_plot()
    assert state[review_panel.SELECTED] == 17
    state.update({"table": {"selection": {"rows": [2]}}, "table_ids": [5, 9, 11, 40]})
    review_panel._select_from_table()
    assert state[review_panel.SELECTED] == 11


# --- stretch --------------------------------------------------------------------------------


INTERVAL_CONTROL = {"percentile": "Percent kept", "asym_percentile": "Lower and upper percentile",
                    "manual": "Black level (pixel units)", "minmax": None, "zscale": None}
STRETCH_PARAMS = ("log", "asinh", "sinh", "power")


def test_every_interval_and_stretch():
    at = open_tab(started("synthetic"), "Stretch")
    key = "@demo:synthetic"
    for interval, control in INTERVAL_CONTROL.items():
        at.selectbox(key=f"interval{key}").set_value(interval).run()
        assert_clean(at)
        assert not at.error, (interval, [e.value for e in at.error])
        labels = {s.label for s in at.slider} | {n.label for n in at.number_input}
        if control:
            assert control in labels
        assert stretch_previews(at), "the stretch preview picture"
    for stretch in ("linear", "sqrt", "log", "asinh", "sinh", "power", "histeq"):
        at.selectbox(key=f"stretch{key}").set_value(stretch).run()
        assert_clean(at)
        assert not at.error, (stretch, [e.value for e in at.error])
        params = [n for n in at.number_input if n.key == f"a_{stretch}{key}"]
        assert bool(params) == (stretch in STRETCH_PARAMS)
        if params:
            params[0].set_value(params[0].value * 2).run()
            assert_clean(at)
            assert not at.error
    open_tab(at, "Inspect")
    assert shown_counts(at)[1] > 0


def test_manual_limits_in_the_wrong_order_show_the_reason():
    at = started("synthetic")
    at.selectbox(key="interval@demo:synthetic").set_value("manual").run()
    at.number_input(key="vmin@demo:synthetic").set_value(10.0).run()
    at.number_input(key="vmax@demo:synthetic").set_value(1.0).run()
    assert_clean(at)
    assert any("vmin < vmax" in e.value for e in at.error)
    assert shown_counts(at)[1] > 0  # falls back to the default stretch and still shows the field


def test_percentile_controls_and_lupton():
    at = started("synthetic")
    at.selectbox(key="interval@demo:synthetic").set_value("percentile").run()
    at.slider(key="percent@demo:synthetic").set_value(97.0).run()
    at.selectbox(key="interval@demo:synthetic").set_value("asym_percentile").run()
    at.slider(key="percentiles@demo:synthetic").set_value((1.0, 99.0)).run()
    at.radio(key="rgb_method@demo:synthetic").set_value("Lupton (Q, stretch)").run()
    at.slider(key="lupton_q@demo:synthetic").set_value(3.0).run()
    at.number_input(key="lupton_stretch@demo:synthetic").set_value(20.0).run()
    assert_clean(at)
    assert not at.error
    assert not stretch_previews(at), "the Stretch tab is closed: no preview is drawn"
    open_tab(at, "Stretch")
    assert stretch_previews(at), "the stretch preview picture"
    assert "histogram@demo:synthetic" in [c.key for c in at.get("plotly_chart")]


def test_lupton_is_offered_for_fits_bands_only():
    at = open_tab(started("xdf"), "Stretch")
    assert not [r for r in at.radio if r.label == "Three bands"]  # a JPEG's colours are mapped
    assert open_tab(started("synthetic"), "Stretch").radio(key="rgb_method@demo:synthetic")


# --- run controls ---------------------------------------------------------------------------


def test_sep_controls_change_the_detections_when_rerun():
    at = started("synthetic")
    loose = shown_counts(at)[1]
    at.slider(key="sep_sigma").set_value(8.0).run()
    at.slider(key="sep_minarea").set_value(30).run()
    assert_clean(at)
    assert shown_counts(at)[1] == loose  # nothing re-ran
    warning = next(w.value for w in at.warning if "Out of date" in w.value)
    assert "sep's threshold and sep's minimum area" in warning
    at.button(key="run_button").click().run()
    settle(at)
    strict = shown_counts(at)[1]
    assert 0 < strict < loose


@pytest.mark.slow
def test_classifier_probabilities_and_augmentation_preview(monkeypatch):
    from app import caching

    clf = untrained_classifier()
    monkeypatch.setattr(shipped, "classifier_available", lambda: True)
    monkeypatch.setattr(caching, "classifier", lambda: clf)
    at = started("synthetic", classify=True)
    table = table_of(at)
    probs = table[list(CLASS_NAMES)].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert set(table["class"]) <= set(CLASS_NAMES)
    first = int(table["id"].iloc[0])
    at.selectbox(key="detection_id").set_value(first).run()
    assert_clean(at)
    captions = [c.value for c in at.caption]
    assert any(re.match(r"rotated\s+\*\*\S+\*\* \d\.\d\d", c) for c in captions)
    assert any(c.startswith("warped") for c in captions)
    assert any("views keep the class" in c for c in captions)
    views = at.table[0].value
    assert len(views) == 11 and list(views.columns) == ["Spiral", "Barred", "Ellipt.", "Edge-on",
                                                        "Irreg.", "Star/art."]
    assert np.allclose(views.astype(float).sum(axis=1), 1.0, atol=0.04)
    at.number_input(key="aug_seed").set_value(5).run()
    assert_clean(at)
    at.checkbox(key="tta").check().run()
    assert_clean(at)
    assert any("Out of date" in w.value and "augmentation" in w.value for w in at.warning)


# --- uploads and their error paths ----------------------------------------------------------


def test_upload_limit_is_stated():
    at = started("upload")
    assert any("300 MB per file" in c.value for c in at.sidebar.caption)
    assert any("Upload a file" in i.value for i in at.info)


def test_fits_upload_with_hdu_choice_and_header():
    at = started("upload")
    data = fits_bytes(sky(), header={"OBJECT": "<script>alert(1)</script>", "FILTER": "F160W"},
                      extra_hdus=1)
    at.file_uploader(key="upload").upload("field.fits", data, "application/fits").run()
    settle(at)
    assert not at.error
    hdu = [s for s in at.selectbox if s.label == "HDU"]
    assert len(hdu) == 1 and len(hdu[0].options) == 2
    assert shown_counts(at)[1] > 0
    assert not at.code, "the header tab is closed"
    open_tab(at, "Field and header")
    header = "\n".join(c.value for c in at.code)
    assert "<script>alert(1)</script>" in header  # shown as text in a code block
    assert all("<script>" not in m.value for m in at.markdown)
    assert "CTYPE" in header and "RA---TAN" in header
    open_tab(at, "Inspect")
    hdu[0].select_index(1).run()
    settle(at)
    assert shown_counts(at)[1] > 0
    colormap = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Colour map"))
    colormap.set_value("viridis").run()
    assert_clean(at)


def test_picture_upload():
    at = started("upload")
    rgb = (np.clip(sky(seed=2)[..., None] * 5 + 20, 0, 255)).astype(np.uint8).repeat(3, axis=2)
    at.file_uploader(key="upload").upload("galaxies.png", png_bytes(rgb), "image/png").run()
    settle(at)
    assert not at.error
    assert shown_counts(at)[1] > 0


@pytest.mark.parametrize("name, content, needle", [
    ("notes.fits", b"this is not a FITS file, just some text\n", "text file"),
    ("empty.fits", b"", "empty"),
    ("half.fits", None, "truncated"),
    ("archive.fits", b"PK\x03\x04" + b"\x00" * 100, "ZIP"),
])
def test_bad_upload_shows_the_message_not_a_traceback(name, content, needle):
    if content is None:
        content = fits_bytes(sky(256))[: 2880 * 3]
    at = started("upload")
    at.file_uploader(key="upload").upload(name, content, "application/octet-stream").run()
    assert_clean(at)
    assert at.error, "a bad upload must show st.error"
    assert needle.lower() in at.error[0].value.lower()
    assert not at.get("plotly_chart")


def test_three_band_upload_names_its_exports_after_the_bands(monkeypatch):
    import streamlit

    from app import export_panel

    names, metas = [], []
    real = streamlit.download_button
    monkeypatch.setattr(streamlit, "download_button",
                        lambda *a, **k: names.append(k["file_name"]) or real(*a, **k))
    real_panel = export_panel.export_panel
    monkeypatch.setattr(export_panel, "export_panel", lambda *a, **k: (
        metas.append(k["meta"]), real_panel(*a, **k)))
    at = started("bands")
    assert any("R, G and B" in i.value for i in at.sidebar.info)
    for i, band in enumerate(("f814w", "f606w", "f435w")):
        at.file_uploader(key=f"band_{'RGB'[i]}").upload(
            f"abell_{band}.fits", fits_bytes(sky(seed=0) * (1 + i)), "application/fits")
    at.run()
    settle(at)
    assert not at.error
    assert shown_counts(at)[1] > 0
    assert at.radio(key=next(r.key for r in at.radio if r.label == "Three bands"))
    open_tab(at, "Export")
    assert "abell_f814w+f606w+f435w_detections.csv" in names
    assert "abell_f814w+f606w+f435w_detections.vot" in names
    assert "abell_f814w+f606w+f435w_annotated.png" in names
    assert metas[-1]["FIELD"] == "abell_f814w+f606w+f435w"  # the files' own header says so too


def test_three_bands_of_different_sizes_are_refused():
    at = started("bands")
    at.file_uploader(key="band_R").upload("r.fits", fits_bytes(sky(128)), "application/fits")
    at.file_uploader(key="band_G").upload("g.fits", fits_bytes(sky(96)), "application/fits")
    at.file_uploader(key="band_B").upload("b.fits", fits_bytes(sky(128)), "application/fits")
    at.run()
    assert_clean(at)
    assert any("same size" in e.value for e in at.error)


def run_app_with_pipeline(monkeypatch, run):
    """The demo app run with ``pipeline.run`` replaced, once its run is over."""
    monkeypatch.setattr(pipeline, "run", run)
    at = new_app()
    at.run()
    return settle(at)


def test_unexpected_failure_shows_a_generic_message(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    at = run_app_with_pipeline(monkeypatch, broken)
    assert any("Something went wrong while detecting" in e.value for e in at.error)
    assert all("secret internal detail" not in e.value for e in at.error)


def test_core_error_during_the_run_is_shown_as_is(monkeypatch):
    def refuses(*args, **kwargs):
        raise GalaxyCoreError("sep found 30000 objects, more than 20000: the threshold is too low.")

    at = run_app_with_pipeline(monkeypatch, refuses)
    assert [e.value for e in at.error] == [
        "sep found 30000 objects, more than 20000: the threshold is too low."]


# --- exports ----------------------------------------------------------------------------------


def test_export_buttons_and_their_files(monkeypatch):
    from app import caching, export_panel
    from app.export_panel import annotated_png, catalogue_file

    metas = []
    real_panel = export_panel.export_panel
    monkeypatch.setattr(export_panel, "export_panel",
                        lambda df, loaded, rgb, *, meta, view_key: (
                            metas.append(meta), real_panel(df, loaded, rgb, meta=meta, view_key=view_key)))
    at = started("synthetic")
    assert not [b for b in at.download_button if b.key.startswith("download_")], "the Export tab is closed"
    at.slider(key="threshold").set_value(0.4).run()
    shown = table_of(at)
    open_tab(at, "Export")
    # the files say how they were made: the run's method and settings, the view's filters
    assert {k: metas[-1][k] for k in ("METHOD", "SEPTHR", "SEPAREA", "THRESH")} == {
        "METHOD": "sep", "SEPTHR": 3.0, "SEPAREA": 5, "THRESH": 0.4}
    assert metas[-1]["CLASSES"] == "object" and "DETWTS" not in metas[-1]
    keys = {b.key for b in at.download_button}
    assert {"download_csv", "download_votable", "download_fits", "download_ecsv", "download_reg",
            "download_png"} <= keys
    assert f"**{len(shown)} detections shown**" in "".join(m.value for m in at.markdown)
    assert any("ra and dec in degrees" in c.value for c in at.caption)  # CSV's units, in words
    loaded = caching.demo_field("synthetic")
    result = next(r for k, r in caching.run_store()._items.items() if k[0] == "demo:synthetic")[0]
    df = result.frame()
    df = df[df["score"] >= 0.4]
    assert len(df) == len(shown)
    csv = pd.read_csv(io.BytesIO(catalogue_file(df, "csv", loaded.field, {})))
    assert csv["id"].tolist() == df["id"].tolist()
    with fits.open(io.BytesIO(catalogue_file(df, "fits", loaded.field, {"field": "t"}))) as hdul:
        assert len(hdul[1].data) == len(df)
    assert catalogue_file(df, "ecsv", loaded.field, {}).startswith(b"# %ECSV")
    assert b"pos.eq.ra;meta.main" in catalogue_file(df, "votable", loaded.field, {})
    regions = catalogue_file(df, "reg", loaded.field, {}).decode()
    assert regions.count("box(") == len(df)
    png = Image.open(io.BytesIO(annotated_png(result.result.rgb, df, origin_lower=True, line=1)))
    assert png.size == (loaded.field.width, loaded.field.height)


def test_a_failing_export_shows_the_apps_message(monkeypatch):
    from app import export_panel

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export_panel, "catalogue_file", broken)
    at = open_tab(started("synthetic"), "Export")
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert any("Something went wrong while exporting CSV" in e for e in errors)
    assert all("disk on fire" not in e for e in errors)
    assert {b.key for b in at.download_button} == {"download_png"}  # the PNG still works


def test_export_file_names_come_from_the_upload():
    from app.field_source import file_stem

    assert file_stem("hst_abell2744_f105w.fits.gz") == "hst_abell2744_f105w"
    assert file_stem("Galaxies 2.JPG") == "Galaxies_2"
    assert file_stem("../../etc/passwd") == "passwd"
    assert file_stem(".fits") == "upload"


# --- the shipped models -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (shipped.DETECTOR_WEIGHTS.exists() and shipped.CLASSIFIER_WEIGHTS.exists()),
                    reason="weights/detector.pt and weights/classifier.pt are not both trained yet")
def test_demo_mode_uses_the_shipped_detector_and_classifier():
    at = new_app(classify=True, method=None)
    at.run()
    settle(at, timeout_s=600)
    assert at.selectbox(key="method").value == "yolo"
    assert any(c.value.startswith("Showing") and "yolo detector + classifier" in c.value
               for c in at.caption)
    table = table_of(at)
    assert len(table) > 0 and set(table["class"]) <= set(CLASS_NAMES)
    assert np.allclose(table[list(CLASS_NAMES)].to_numpy(float).sum(axis=1), 1.0, atol=1e-6)
    # most XDF galaxies are too small for morphology: drawn grey, counted apart, and hideable
    visible, total = shown_counts(at)
    legend = legend_names(field_spec(at))
    grey = next(n for n in legend if n.startswith("too small / faint to classify"))
    small = int(re.search(r"\(([\d,]+)\)", grey).group(1).replace(",", ""))
    assert total / 2 < small < total
    # the table starts with the detections whose class is trusted
    assert table["trusted"].iloc[0] == "yes" and table["uncertainty"].nunique() > 5
    hidden = [g for g in at.pills[0].value if g != UNTRUSTED]
    at.pills[0].set_value(hidden).run()
    rule = pipeline.load_classifier().reliability
    assert (table_of(at)["size"] >= rule.min_extent_px).all() or (table_of(at)["trusted"] == "yes").all()
    assert PENDING not in legend


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_small_object_pass_finds_more_of_the_deep_field():
    at = new_app(classify=False, method="yolo")
    at.session_state["source"] = SOURCE["xdf"]
    at.run()
    settle(at, timeout_s=600)
    native = shown_counts(at)[1]
    # with the sep overlay, the app says how much of sep's catalogue is boxed and suggests the pass
    at.checkbox(key="sep_overlay").check().run()
    assert_clean(at)
    share = _sep_share(at)
    assert share < 0.9 and any("Small-object pass" in i.value for i in at.info)  # HINT_BELOW
    assert at.selectbox(key="upsample").options == ["Off (native scale)", "1.5x upsampled",
                                                    "2x upsampled"]
    at.selectbox(key="upsample").set_value(1.5).run()
    assert any("small-object pass" in w.value for w in at.warning)  # says before it runs
    at.button(key="run_button").click().run()
    settle(at, timeout_s=600)
    assert shown_counts(at)[1] > 1.5 * native  # XDF galaxies only 2-4 px across
    assert any("yolo detector (small-object pass 1.5x)" in c.value for c in at.caption)
    assert _sep_share(at) > share + 0.1 and not any("Small-object pass" in i.value for i in at.info)


def _sep_share(at: AppTest) -> float:
    """The share of sep's S/N > 10 sources boxed, as the app states it."""
    text = next(c.value for c in at.caption if c.value.startswith("The boxes shown contain"))
    found, total = re.search(r"contain (\d+) of sep's (\d+) sources", text).groups()
    return int(found) / int(total)


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_yolo_floor_and_flips():
    """The threshold is the user's; a lower floor keeps more boxes once re-run; the detector's
    flips are a run setting of their own."""
    at = new_app(classify=False, method="yolo")
    at.session_state["source"] = SOURCE["xdf"]
    at.run()
    settle(at, timeout_s=600)
    assert at.slider(key="threshold").value == 0.25
    visible, total = shown_counts(at)
    assert visible < total
    assert any("yolo detector, scoring 0.15 or more" in c.value for c in at.caption)
    at.slider(key="threshold").set_value(0.15).run()  # instantly, from the same run
    assert shown_counts(at) == (total, total)
    at.select_slider(key="floor").set_value(0.1).run()
    at.button(key="run_button").click().run()
    settle(at, timeout_s=600)
    assert shown_counts(at)[1] > total
    assert at.slider(key="threshold").value == 0.15  # the user's threshold stays
    at.slider(key="threshold").set_value(0.1).run()
    assert shown_counts(at)[0] == shown_counts(at)[1]  # every box kept is shown
    at.checkbox(key="detect_tta").check().run()
    at.button(key="run_button").click().run()
    settle(at, timeout_s=600)
    assert any("yolo detector (4 flips)" in c.value for c in at.caption)
    assert min(table_of(at)["score"]) >= 0.1
