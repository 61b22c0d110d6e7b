"""The Streamlit app through streamlit.testing.v1.AppTest: every control and the error paths.

The tests make their own small FITS and picture files; the synthetic demo
field is swapped for a 256 px one so that the suite stays fast.  The learned
classifier is a real, untrained ResNet18 (``Classifier`` with random weights):
these tests check that the app shows what the model says, not what it says.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image
from streamlit.testing.v1 import AppTest

from galaxy_core import pipeline, shipped
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io import demo
from galaxy_core.io.synthetic import make_wcs
from galaxy_core.io.synthetic import synthetic_field as make_synthetic
from galaxy_core.types import CLASS_NAMES

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
    """The synthetic demo at 256 px (the 2048 px one takes seconds to make)."""
    small = make_synthetic(seed=3, size=256, n_galaxies=12, n_stars=3)[0]
    monkeypatch.setitem(demo.DEMO_FIELDS, "synthetic", lambda: small)
    from app import caching

    caching.demo_field.clear()
    yield
    caching.demo_field.clear()
    for key in [k for k in caching.run_store()._items if k[0] == "demo:synthetic"]:
        caching.run_store()._items.pop(key)


def new_app(*, classify: bool = False, method: str | None = "sep") -> AppTest:
    """The app on the sep baseline with the shipped classifier off (fast and the same whether
    or not the learned models are installed), unless asked otherwise."""
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state["classify"] = classify
    if method is not None:
        at.session_state["method"] = method
    return at


def started(source: str = "xdf", *, classify: bool = False) -> AppTest:
    at = new_app(classify=classify)
    at.session_state["source"] = SOURCE[source]
    at.run()
    assert_clean(at)
    return at


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
    """(visible, total) from the 'Showing N of M detections' caption."""
    for c in at.caption:
        if c.value.startswith("Showing "):
            words = c.value.split()
            return int(words[1]), int(words[3])
    raise AssertionError(f"no 'Showing' caption in {[c.value for c in at.caption]}")


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


# --- demo mode, filters, table order, overlay ----------------------------------------------


def test_demo_mode_shows_detections_without_any_click():
    from app import review_panel

    at = started()
    visible, total = shown_counts(at)
    assert total > 0 and visible > 0
    assert len(at.get("plotly_chart")) >= 1
    table = table_of(at)
    assert len(table) == min(visible, review_panel.TABLE_MAX_ROWS)
    assert table["cutout"].str.startswith("data:image/png;base64,").all()
    assert any("MB per file" in c.value for c in at.sidebar.caption) is False  # demo: no uploader


def test_threshold_filters_without_rerunning_the_model(monkeypatch):
    calls = []
    real_run = pipeline.run
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    from app import caching

    caching.run_store().clear()
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
    (classes,) = [m for m in at.multiselect if m.label == "Classes shown"]
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


def test_picking_a_detection_opens_it():
    at = started()
    ids = table_of(at)["id"].tolist()
    at.selectbox(key="detection_id").set_value(ids[3]).run()
    assert_clean(at)
    assert any(h.value.startswith(f"#{ids[3]} ") for h in at.subheader)
    assert any("Not classified" in i.value for i in at.info)


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
        st.session_state[review_panel.SELECTED] = 9  # what a click on the circle of #9 does
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

    state = {"field_plot": {"selection": {"points": [{"customdata": [17, "Spiral"]}]}}}
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
        assert at.get("image"), "the stretch preview picture"
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
    assert not at.get("image"), "the Stretch tab is closed: no preview is drawn"
    open_tab(at, "Stretch")
    assert at.get("image"), "the stretch preview picture"
    assert [c.key for c in at.get("plotly_chart")] == ["histogram@demo:synthetic"]  # not the field


# --- run controls ---------------------------------------------------------------------------


def test_sep_controls_change_the_detections():
    at = started("synthetic")
    loose = shown_counts(at)[1]
    at.slider(key="sep_sigma").set_value(8.0).run()
    at.slider(key="sep_minarea").set_value(30).run()
    assert_clean(at)
    strict = shown_counts(at)[1]
    assert 0 < strict < loose


def test_manual_run_mode_keeps_the_last_result():
    at = started()
    total = shown_counts(at)[1]
    at.toggle(key="auto_run").set_value(False).run()
    assert shown_counts(at)[1] == total  # the last result stays on screen
    at.slider(key="sep_sigma").set_value(6.0).run()
    assert shown_counts(at)[1] == total  # nothing re-runs until Run is pressed
    at.button(key="run_button").click().run()
    assert_clean(at)
    assert shown_counts(at)[1] < total


def test_fresh_session_in_manual_mode_asks_for_a_run():
    at = new_app(classify=False)
    at.session_state["auto_run"] = False
    at.run()
    assert any("Press Run" in i.value for i in at.info)
    at.button(key="run_button").click().run()
    assert shown_counts(at)[1] > 0


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
    assert any(c.startswith("rotated: ") for c in captions)
    assert any(c.startswith("perspective-warped: ") for c in captions)
    assert any("views keep the class" in c for c in captions)
    views = next(d.value for d in at.dataframe if list(d.value.columns) == list(CLASS_NAMES))
    assert len(views) == 11 and np.allclose(views.sum(axis=1), 1.0, atol=1e-6)
    at.number_input(key="aug_seed").set_value(5).run()
    assert_clean(at)
    (classes,) = [m for m in at.multiselect if m.label == "Classes shown"]
    classes.set_value(classes.value[:1]).run()
    assert set(table_of(at)["class"]) == set(classes.value[:1])
    at.checkbox(key="tta").check().run()
    assert_clean(at)


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
    assert_clean(at)
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
    hdu[0].set_value(hdu[0].options[1]).run() if False else hdu[0].select_index(1).run()
    assert_clean(at)
    assert shown_counts(at)[1] > 0
    colormap = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Colour map"))
    colormap.set_value("viridis").run()
    assert_clean(at)


def test_picture_upload():
    at = started("upload")
    rgb = (np.clip(sky(seed=2)[..., None] * 5 + 20, 0, 255)).astype(np.uint8).repeat(3, axis=2)
    at.file_uploader(key="upload").upload("galaxies.png", png_bytes(rgb), "image/png").run()
    assert_clean(at)
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


def test_three_band_upload():
    at = started("bands")
    assert any("R, G and B" in i.value for i in at.sidebar.info)
    for i, band in enumerate("RGB"):
        at.file_uploader(key=f"band_{band}").upload(f"{band}.fits", fits_bytes(sky(seed=0) * (1 + i)),
                                                    "application/fits")
    at.run()
    assert_clean(at)
    assert not at.error
    assert shown_counts(at)[1] > 0
    assert at.radio(key=next(r.key for r in at.radio if r.label == "Three bands"))


def test_three_bands_of_different_sizes_are_refused():
    at = started("bands")
    at.file_uploader(key="band_R").upload("r.fits", fits_bytes(sky(128)), "application/fits")
    at.file_uploader(key="band_G").upload("g.fits", fits_bytes(sky(96)), "application/fits")
    at.file_uploader(key="band_B").upload("b.fits", fits_bytes(sky(128)), "application/fits")
    at.run()
    assert_clean(at)
    assert any("same size" in e.value for e in at.error)


def run_app_with_pipeline(monkeypatch, run):
    """The demo app run once with ``pipeline.run`` replaced and no cached result."""
    from app import caching

    monkeypatch.setattr(pipeline, "run", run)
    caching.run_store().clear()
    at = new_app()
    at.run()
    assert_clean(at)
    return at


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
                        lambda df, field, rgb, *, meta: (metas.append(meta),
                                                         real_panel(df, field, rgb, meta=meta)))
    at = started("synthetic")
    assert not at.download_button, "the Export tab is closed"
    at.slider(key="threshold").set_value(0.4).run()
    shown = table_of(at)
    open_tab(at, "Export")
    # the files say how they were made: the run's method and settings, the view's filters
    assert {k: metas[-1][k] for k in ("METHOD", "SEPTHR", "SEPAREA", "THRESH")} == {
        "METHOD": "sep", "SEPTHR": 3.0, "SEPAREA": 5, "THRESH": 0.4}
    assert metas[-1]["CLASSES"] == "object" and "DETWTS" not in metas[-1]
    keys = {b.key for b in at.download_button}
    assert {"download_csv", "download_fits", "download_ecsv", "download_reg", "download_png"} <= keys
    assert f"**{len(shown)} detections shown**" in "".join(m.value for m in at.markdown)
    field = caching.demo_field("synthetic")
    result = next(r for k, r in caching.run_store()._items.items() if k[0] == "demo:synthetic")
    df = result.frame()
    df = df[df["score"] >= 0.4]
    assert len(df) == len(shown)
    csv = pd.read_csv(io.BytesIO(catalogue_file(df, "csv", field, {})))
    assert csv["id"].tolist() == df["id"].tolist()
    with fits.open(io.BytesIO(catalogue_file(df, "fits", field, {"field": "t"}))) as hdul:
        assert len(hdul[1].data) == len(df)
    assert catalogue_file(df, "ecsv", field, {}).startswith(b"# %ECSV")
    regions = catalogue_file(df, "reg", field, {}).decode()
    assert regions.count("box(") == len(df)
    png = Image.open(io.BytesIO(annotated_png(result.result.rgb, df, origin_lower=True, line=1)))
    assert png.size == (field.width, field.height)


# --- the shipped models -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not (shipped.DETECTOR_WEIGHTS.exists() and shipped.CLASSIFIER_WEIGHTS.exists()),
                    reason="weights/detector.pt and weights/classifier.pt are not both trained yet")
def test_demo_mode_uses_the_shipped_detector_and_classifier():
    at = new_app(classify=True, method=None)
    at.run()
    assert_clean(at)
    assert at.selectbox(key="method").value == "yolo"
    assert any(c.value.startswith("yolo detector + classifier: ") for c in at.caption)
    table = table_of(at)
    assert len(table) > 0 and set(table["class"]) <= set(CLASS_NAMES)
    assert np.allclose(table[list(CLASS_NAMES)].sum(axis=1), 1.0, atol=1e-6)
    # most XDF galaxies are too small for morphology: the app says so and can hide them
    visible, total = shown_counts(at)
    note = next(c.value for c in at.caption if "classified detections shown are under" in c.value)
    small = int(note.split()[0])
    assert 0 < small < visible
    at.checkbox(key="reliable_only").check().run()
    assert_clean(at)
    assert shown_counts(at) == (visible - small, total)
    rule = shipped.load_classifier().reliability
    assert (table_of(at)["size"] >= rule.min_extent_px).all()
    assert not (table_of(at)["S/N"] < rule.min_peak_snr).any()
    assert not any("classified detections shown are under" in c.value for c in at.caption)
    at.checkbox(key="sep_overlay").check().run()
    assert_clean(at)


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_small_object_pass_finds_more_of_the_deep_field():
    at = new_app(classify=False, method="yolo")
    at.session_state["source"] = SOURCE["xdf"]
    at.run()
    assert_clean(at)
    native = shown_counts(at)[1]
    # with the sep overlay, the app says how much of sep's catalogue is boxed and suggests the pass
    at.checkbox(key="sep_overlay").check().run()
    assert_clean(at)
    share = _sep_share(at)
    assert share < 0.9 and any("Small-object pass" in i.value for i in at.info)  # HINT_BELOW
    assert at.selectbox(key="upsample").options == ["Off (native scale)", "1.5x upsampled",
                                                    "2x upsampled"]
    at.selectbox(key="upsample").set_value(1.5).run()
    assert_clean(at)
    assert shown_counts(at)[1] > 1.5 * native  # XDF galaxies only 2-4 px across
    assert any(c.value.startswith("yolo detector (small-object pass 1.5x): ") for c in at.caption)
    assert _sep_share(at) > share + 0.1 and not any("Small-object pass" in i.value for i in at.info)


def _sep_share(at: AppTest) -> float:
    """The share of sep's S/N > 10 sources boxed, as the app states it."""
    text = next(c.value for c in at.caption if c.value.startswith("The boxes shown contain"))
    found, total = re.search(r"contain (\d+) of sep's (\d+) sources", text).groups()
    return int(found) / int(total)


@pytest.mark.slow
@pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(), reason="weights/detector.pt is not trained yet")
def test_yolo_floor_and_flips():
    """The threshold slider starts at the run's floor; a lower floor keeps more boxes; the
    detector's flips are a run setting of their own."""
    at = new_app(classify=False, method="yolo")
    at.session_state["source"] = SOURCE["xdf"]
    at.run()
    assert_clean(at)
    slider = at.slider(key="threshold")
    assert slider.min == 0.15 and slider.value == 0.25
    visible, total = shown_counts(at)
    assert visible < total
    assert any(c.value.startswith("yolo detector: ") and "scoring 0.15 or more" in c.value
               for c in at.caption)
    at.slider(key="threshold").set_value(0.15).run()  # instantly, from the same run
    assert shown_counts(at) == (total, total)
    at.select_slider(key="floor").set_value(0.1).run()
    assert_clean(at)
    assert at.slider(key="threshold").min == 0.1
    assert shown_counts(at)[1] > total
    at.slider(key="threshold").set_value(0.1).run()
    assert shown_counts(at)[0] == shown_counts(at)[1]  # every box kept is shown
    at.checkbox(key="detect_tta").check().run()
    assert_clean(at)
    assert any(c.value.startswith("yolo detector (4 flips): ") for c in at.caption)
    assert min(table_of(at)["score"]) >= 0.1
    # raising the floor above the threshold moves the threshold up with it, no error
    at.select_slider(key="floor").set_value(0.25).run()
    assert_clean(at)
    assert at.slider(key="threshold").min == at.slider(key="threshold").value == 0.25
