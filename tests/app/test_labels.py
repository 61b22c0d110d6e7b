"""Labelling detections in the app, adapting the classifier to the labels, and the weights picker
(streamlit.testing AppTest, with the helpers of test_app.py).

The runs are scripted (``ScriptedRun``: a grid of detections on the 256 px
synthetic demo); one test adapts the shipped classifier for real on 20 labels.
"""

from __future__ import annotations

import hashlib
import time

import pandas as pd
import pytest

from galaxy_core import pipeline, shipped
from galaxy_core.catalog.labels import labels_frame
from galaxy_core.types import CLASS_NAMES, Detection
from tests.app.test_app import (  # noqa: F401  (small_synthetic_demo: autouse fixture)
    SOURCE,
    ScriptedRun,
    assert_clean,
    field_spec,
    legend_names,
    new_app,
    settle,
    small_synthetic_demo,
    table_of,
)

FKEY = "demo:synthetic"


def grid_detections(n: int = 20, shift: int = 0) -> list[Detection]:
    """``n`` classified 16 px boxes on a grid of the 256 px field (ids from ``1 + shift``)."""
    out = []
    for i in range(n):
        x, y = 24.0 + 40 * (i % 6), 24.0 + 40 * (i // 6)
        out.append(Detection(i + 1 + shift, x - 8, y - 8, x + 8, y + 8, x, y, 0.8, "Spiral",
                             (0.5, 0.1, 0.2, 0.1, 0.05, 0.05), extent_px=16.0, peak_snr=50.0,
                             morph_accuracy=0.7, morph_reliable=False, detector_label="galaxy"))
    return out


def labelled_app(monkeypatch, run: ScriptedRun, labels: pd.DataFrame | None = None):
    """The app on the synthetic demo with a scripted run (classifier off), settled; ``labels``
    put in the session first."""
    monkeypatch.setattr(pipeline, "run", run)
    at = new_app(classify=False)
    at.session_state["source"] = SOURCE["synthetic"]
    if labels is not None:
        at.session_state["labels"] = {FKEY: labels}
    at.run()
    return settle(at)


def labels_now(at) -> dict[int, str]:
    """The session's labels of the synthetic field, by detection id."""
    table = at.session_state["labels"][FKEY]
    return dict(zip(table["id"].astype(int), table["label"], strict=True))


def label(at, det_id: int, value: str, where: str = "detail_label"):
    """Open ``det_id`` and click its label button (the detail panel's, or the one under the table)."""
    at.selectbox(key="detection_id").set_value(det_id).run()
    at.button(key=f"{where}_{value}").click().run()
    assert_clean(at)
    return at


def your_labels_column(at) -> dict[int, str]:
    table = table_of(at)
    return {int(i): v for i, v in zip(table["id"], table["your label"], strict=True) if v}


def test_labels_export_and_import_into_a_fresh_session(monkeypatch):
    import streamlit

    sent = {}
    real = streamlit.download_button
    monkeypatch.setattr(streamlit, "download_button",
                        lambda *a, **k: sent.__setitem__(k.get("key"), a[1]) or real(*a, **k))
    run = ScriptedRun(detections=grid_detections(8))
    at = labelled_app(monkeypatch, run)
    label(at, 2, "Elliptical")
    label(at, 5, "Spiral_Barred", where="table_label")
    label(at, 7, "skip")
    label(at, 2, "On_Edge")  # a new label replaces the old one
    assert labels_now(at) == {2: "On_Edge", 5: "Spiral_Barred", 7: "skip"}
    assert your_labels_column(at) == {2: "On_Edge", 5: "Spiral_Barred", 7: "skip"}
    assert "labelled by you (3)" in legend_names(field_spec(at))
    assert any("Edge-on **1**" in m.value and "skipped **1**" in m.value for m in at.markdown)
    exported = sent["labels_download"]
    table = pd.read_csv(pd.io.common.BytesIO(exported))
    assert list(table["field"].unique()) == [FKEY]
    assert dict(zip(table["id"], zip(table["x"], table["label"], strict=True), strict=True)) == {
        2: (64.0, "On_Edge"), 5: (184.0, "Spiral_Barred"), 7: (24.0, "skip")}

    fresh = labelled_app(monkeypatch, run)
    fresh.file_uploader(key="labels_upload").upload("mine.csv", exported, "text/csv").run()
    assert_clean(fresh)
    assert not fresh.error
    assert labels_now(fresh) == {2: "On_Edge", 5: "Spiral_Barred", 7: "skip"}
    assert your_labels_column(fresh) == {2: "On_Edge", 5: "Spiral_Barred", 7: "skip"}


def test_labels_survive_reruns_are_found_by_position_and_undo_steps_back(monkeypatch):
    run = ScriptedRun(detections=grid_detections(8))
    at = labelled_app(monkeypatch, run)
    label(at, 3, "Irregular")
    label(at, 4, "Elliptical")
    at.slider(key="sep_sigma").set_value(4.0).run()
    run.detections = grid_detections(8, shift=100)  # the new run numbers its objects anew
    at.button(key="run_button").click().run()
    settle(at)
    assert run.calls == 2
    assert your_labels_column(at) == {103: "Irregular", 104: "Elliptical"}
    assert "labelled by you (2)" in legend_names(field_spec(at))
    at.slider(key="sep_sigma").set_value(3.0).run()  # back to the first run's settings: kept
    settle(at)
    assert run.calls == 2 and your_labels_column(at) == {3: "Irregular", 4: "Elliptical"}
    at.button(key="labels_undo").click().run()
    assert labels_now(at) == {3: "Irregular"}
    assert your_labels_column(at) == {3: "Irregular"}
    at.selectbox(key="detection_id").set_value(3).run()
    at.button(key="detail_label_clear").click().run()
    assert labels_now(at) == {}
    assert not any(n.startswith("labelled by you") for n in legend_names(field_spec(at)))


@pytest.mark.parametrize("content, needle", [
    (b"id,field,x,y,label\n2,demo:synthetic,64,24,Lenticular\n", "not a class: 'Lenticular'"),
    (b"id,field,x,y,label\n2,demo:synthetic,250,250,Spiral\n", "no longer exist"),
    (b"id,field,x,y,label\n2,other.fits,64,24,Spiral\n", "holds no labels of demo:synthetic"),
])
def test_a_bad_label_table_shows_one_message_and_changes_nothing(monkeypatch, content, needle):
    run = ScriptedRun(detections=grid_detections(8))
    at = labelled_app(monkeypatch, run)
    label(at, 2, "Elliptical")
    at.file_uploader(key="labels_upload").upload("bad.csv", content, "text/csv").run()
    assert_clean(at)
    assert [e.value for e in at.error if needle in e.value], [e.value for e in at.error]
    assert labels_now(at) == {2: "Elliptical"}


def test_adapt_is_disabled_with_the_reason_until_the_labels_can_teach(monkeypatch):
    dets = grid_detections(20)
    few = labels_frame([(d, "Spiral") for d in dets[:5]], field=FKEY)
    at = labelled_app(monkeypatch, ScriptedRun(detections=dets), few)
    button = at.button(key="adapt_button")
    assert button.disabled and "at least 20 labelled objects; you have 5" in button.help
    assert any("15 to go" in i.value for i in at.info)
    one_class = labels_frame([(d, "Spiral") for d in dets], field=FKEY)
    at.session_state["labels"] = {FKEY: one_class}
    at.run()
    assert at.button(key="adapt_button").disabled
    assert any("All 20 labels are Spiral" in i.value for i in at.info)


def test_adapting_labels_whose_detections_vanished_says_which_and_starts_nothing(monkeypatch):
    dets = grid_detections(20)
    labels = labels_frame([(d, CLASS_NAMES[i % 2]) for i, d in enumerate(dets)], field=FKEY)
    at = labelled_app(monkeypatch, ScriptedRun(detections=dets[:17]), labels)
    at.button(key="adapt_button").click().run()
    assert_clean(at)
    assert any("3 labelled detection(s) of demo:synthetic no longer exist (ids 18, 19, 20)" in e.value
               for e in at.error), [e.value for e in at.error]
    assert "adapt_pending" not in at.session_state


@pytest.mark.slow
def test_adapting_in_the_app_shows_the_gain_offers_the_weights_and_keeps_the_shipped_file(monkeypatch):
    from app import adapt_panel
    from galaxy_core.morphology.adapt import AdaptSettings

    if not shipped.classifier_available():
        pytest.skip("the shipped classifier is not installed")
    before = hashlib.sha256(shipped.CLASSIFIER_WEIGHTS.read_bytes()).hexdigest()
    monkeypatch.setattr(adapt_panel, "adapt_settings",
                        lambda: AdaptSettings(threads=1))
    dets = grid_detections(20)
    labels = labels_frame([(d, CLASS_NAMES[2 * (i % 2)]) for i, d in enumerate(dets)], field=FKEY)
    run = ScriptedRun(detections=dets)
    classifiers = []
    real_call = run.__call__
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: classifiers.append(k.get("classifier"))
                        or real_call(*a, **k))
    at = new_app(classify=False)
    at.session_state["source"] = SOURCE["synthetic"]
    at.session_state["labels"] = {FKEY: labels}
    settle(at.run())
    assert not at.button(key="adapt_button").disabled
    at.button(key="adapt_button").click().run()
    deadline = time.monotonic() + 120
    while "adapt_pending" in at.session_state and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    figures = at.table[0].value
    assert list(figures.index) == ["Spiral", "Elliptical", "all your labels", "all, with TTA",
                                   "original validation split"]
    assert figures.loc["Spiral", "objects"] == "10" and "±" in figures.loc["all your labels", "change"]
    assert any(b.key == "adapt_download" for b in at.get("download_button"))
    assert at.radio(key="weights_choice").options == ["Shipped", "Adapted in this session",
                                                      "Upload a .pt file"]
    at.button(key="adapt_use").click().run()
    settle(at)
    assert at.radio(key="weights_choice").value == "adapted"
    assert classifiers[-1] is not None and classifiers[-1].adaptation["counts"]["Spiral"] == 10
    assert "your label" in table_of(at).columns
    at.button(key="adapt_discard").click().run()
    assert "adapted_model" not in at.session_state and at.radio(key="weights_choice").value == "shipped"
    assert hashlib.sha256(shipped.CLASSIFIER_WEIGHTS.read_bytes()).hexdigest() == before


def test_an_uploaded_file_that_is_not_a_classifier_shows_one_message(monkeypatch):
    at = labelled_app(monkeypatch, ScriptedRun(detections=grid_detections(4)))
    at.radio(key="weights_choice").set_value("upload").run()
    at.file_uploader(key="weights_upload").upload("mine.pt", b"not weights at all",
                                                  "application/octet-stream").run()
    assert_clean(at)
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and "mine.pt is not a readable classifier checkpoint" in errors[0]
    assert len(table_of(at)) == 4  # the page goes on with the shipped weights
