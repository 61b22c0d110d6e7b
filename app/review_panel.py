"""Filters, the field with boxes, the detection table and the selection they share."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app import caching
from app.field_figure import class_order, field_figure
from galaxy_core.catalog.matching import centres_and_snr, coverage
from galaxy_core.catalog.review import (
    filter_catalog,
    too_small_for_morphology,
    top_classes,
    uncertain_first,
    uncertainty,
)
from galaxy_core.morphology.reliability import ReliabilityRule
from galaxy_core.types import CLASS_NAMES, Detection

ORDERS = ("Uncertain first", "Score, high first", "Id")
#: Rows in the table and ids in the picker.  Both cost browser time per row (about 0.5 s
#: per 350 rows on 2 cores, bench/bench_app.py); a plot click opens any detection.
TABLE_MAX_ROWS = 200
SELECTED = "detection_id"
#: The open detection, kept while the Inspect tab is closed (its picker is not drawn then).
KEPT = "detection_id_kept"


@dataclass(frozen=True)
class Filters:
    """What the user chose to see."""

    min_score: float
    classes: tuple[str, ...]
    order: str
    sep_overlay: bool
    reliable_only: bool = False


def filter_controls(labels: list[str], *, classified: bool = False, floor: float = 0.0,
                    rule: ReliabilityRule | None = None) -> Filters:
    """Sidebar widgets: score threshold, classes, objects with a trustworthy class, order, sep overlay.

    The threshold slider starts at the run's score ``floor`` (nothing below it was kept).
    """
    st.header("3. Filter")
    floor = round(float(floor), 2)
    min_score = st.slider("Confidence threshold", floor, 1.0, max(0.25, floor), 0.01,
                          key="threshold",
                          help="Hide detections scoring below this (no model is re-run). It starts "
                               "at the run's floor: lower that under Detect to see fainter "
                               "candidates.")
    options = class_order(labels)
    classes = st.multiselect("Classes shown", options, default=options,
                             key=f"classes@{'|'.join(options)}")
    where = rule.describe() if rule is not None else "not measured for these weights"
    reliable_only = classified and st.checkbox(
        "Only objects with a trustworthy class", value=False, key="reliable_only",
        help=f"Hide objects {where}: there the classifier's class is unreliable (measured on "
             "shrunk, noisy validation galaxies, see weights/MODEL_CARD.md).")
    order = st.radio("Table order", ORDERS, key="order",
                     help="Uncertain first: smallest margin between the two most probable classes.")
    sep_overlay = st.checkbox("Overlay the sep baseline", value=False, key="sep_overlay",
                              help="sep's own boxes, dotted red, to see what each method finds.")
    return Filters(min_score, tuple(classes), order, sep_overlay, reliable_only)


def visible(df: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows passing the filters, in the chosen order."""
    shown = filter_catalog(df, min_score=filters.min_score, classes=filters.classes,
                           reliable_only=filters.reliable_only)
    if filters.order == "Uncertain first":
        return uncertain_first(shown)
    if filters.order == "Score, high first":
        return shown.sort_values("score", ascending=False, kind="stable")
    return shown.sort_values("id", kind="stable")


def table_frame(df: pd.DataFrame, thumbs: list[str]) -> pd.DataFrame:
    """The table shown: thumbnail, id, class, score, uncertainty, top classes, probabilities, position."""
    out = pd.DataFrame({
        "cutout": thumbs, "id": df["id"].to_numpy(), "class": df["label"].to_numpy(),
        "score": df["score"].to_numpy(), "uncertainty": uncertainty(df).to_numpy(),
        "top classes": top_classes(df, k=2).to_numpy(), "size": df["extent_px"].to_numpy(),
        "S/N": df["peak_snr"].to_numpy(), "expected accuracy": df["morph_accuracy"].to_numpy(),
    })
    for name in CLASS_NAMES:
        out[name] = df[name].to_numpy()
    for name in ("x", "y", "ra", "dec"):
        out[name] = df[name].to_numpy()
    return out


TABLE_COLUMNS = {
    "cutout": st.column_config.ImageColumn("cutout", width="small"),
    "score": st.column_config.NumberColumn("score", format="%.3f"),
    "uncertainty": st.column_config.NumberColumn(
        "uncertainty", format="%.2f", help="1 - (top probability - runner-up); empty when unclassified"),
    "size": st.column_config.NumberColumn(
        "size (px)", format="%.0f",
        help="Extent the classifier measured; too small, and its class is unreliable."),
    "S/N": st.column_config.NumberColumn(
        "S/N", format="%.0f", help="Peak of the smoothed object over the sky noise, in the picture shown."),
    "expected accuracy": st.column_config.NumberColumn(
        "expected accuracy", format="%.2f",
        help="Share of validation galaxies of this size and S/N the classifier got right "
             "(empty where not measured)."),
    **{name: st.column_config.ProgressColumn(name, min_value=0.0, max_value=1.0, format="%.2f")
       for name in CLASS_NAMES},
    "x": st.column_config.NumberColumn("x (px)", format="%.1f"),
    "y": st.column_config.NumberColumn("y (px)", format="%.1f"),
    "ra": st.column_config.NumberColumn("RA (deg)", format="%.6f"),
    "dec": st.column_config.NumberColumn("Dec (deg)", format="%.6f"),
}


def _select_from_plot() -> None:
    """Plot click -> the selected detection (customdata[0] of the clicked marker)."""
    state = st.session_state.get("field_plot")
    points = (state or {}).get("selection", {}).get("points", [])
    for p in points:
        data = p.get("customdata")
        if data:
            st.session_state[SELECTED] = int(data[0])
            return


def _select_from_table() -> None:
    """Table row click -> the selected detection (via the ids shown in the table)."""
    state = st.session_state.get("table")
    rows = (state or {}).get("selection", {}).get("rows", [])
    ids = st.session_state.get("table_ids", [])
    if rows and rows[0] < len(ids):
        st.session_state[SELECTED] = int(ids[rows[0]])


def field_view(loaded, preview: tuple[str, int], shown: pd.DataFrame, total: int,
               sep: tuple[Detection, ...]) -> None:
    """The zoomable field with the visible boxes; a click selects a detection."""
    uri, block = preview
    f = loaded.field
    st.caption(f"Showing {len(shown)} of {total} detections"
               + (f"; sep baseline: {len(sep)} objects" if sep else "")
               + ". Scroll or drag to zoom, double-click to reset, click a circle to open it.")
    fig = field_figure(uri, block=block, width=f.width, height=f.height,
                       origin_lower=f.kind == "fits", df=shown, sep=sep,
                       selected_id=st.session_state.get(SELECTED),
                       height_px=int(min(800, max(320, 620 * f.height / f.width + 100))))
    st.plotly_chart(fig, key="field_plot", on_select=_select_from_plot, selection_mode=("points",),
                    config={"scrollZoom": True, "displaylogo": False})


def detection_table(stored: caching.StoredRun, shown: pd.DataFrame, *, origin_lower: bool) -> None:
    """The sortable table (first TABLE_MAX_ROWS rows in the chosen order); a row click selects."""
    head = shown.head(TABLE_MAX_ROWS)
    thumbs = stored.thumbnails(head["id"].tolist(), origin_lower=origin_lower)
    st.session_state["table_ids"] = head["id"].tolist()
    if len(shown) > TABLE_MAX_ROWS:
        st.caption(f"The first {TABLE_MAX_ROWS} of {len(shown)} rows in this order; click a circle "
                   "in the field to open any other. The exports hold them all.")
    st.dataframe(table_frame(head, thumbs), key="table", on_select=_select_from_table,
                 selection_mode="single-row", hide_index=True, column_config=TABLE_COLUMNS,
                 row_height=52, height=420)


def detection_picker(shown: pd.DataFrame, all_ids: list[int]) -> int | None:
    """A chooser of the open detection (kept in sync with plot and table clicks).

    It offers the table's rows (the first ``TABLE_MAX_ROWS`` shown) and the open detection.
    """
    ids = shown["id"].head(TABLE_MAX_ROWS).tolist()
    if SELECTED not in st.session_state and st.session_state.get(KEPT) is not None:
        # Back from another tab: the picker was not drawn there, so Streamlit dropped its state.
        st.session_state[SELECTED] = st.session_state[KEPT]
    current = st.session_state.get(SELECTED)
    if current is not None and current not in ids and current in all_ids:
        ids = [current, *ids]
    if not ids:
        return None
    if current not in ids:
        st.session_state.pop(SELECTED, None)
    chosen = st.selectbox("Open detection", ids, key=SELECTED, index=None,
                          placeholder="Click a circle or a table row, or pick an id")
    st.session_state[KEPT] = chosen
    return chosen


#: Below this share of sep's S/N > 10 sources boxed, the app suggests the small-object pass.
HINT_BELOW = 0.9


def small_objects_note(shown: pd.DataFrame, rule: ReliabilityRule | None) -> int:
    """Say how many classified detections shown are too small for morphology; returns that count."""
    small, classified = too_small_for_morphology(shown)
    if small:
        where = rule.describe() if rule is not None else "without a measured reliability rule"
        st.caption(f"{small} of the {classified} classified detections shown are {where}: their "
                   "classes are unreliable. Tick **Only objects with a trustworthy class** in the "
                   "sidebar to hide them.")
    return small


def sep_coverage_note(shown: pd.DataFrame, sep: tuple[Detection, ...], *,
                      upsample: float) -> float | None:
    """Say how many of sep's S/N > 10 sources the shown YOLO boxes contain; returns that share.

    Below ``HINT_BELOW`` at native scale, suggests the small-object pass.
    """
    found, total = coverage(shown[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float),
                            *centres_and_snr(sep))
    if total == 0:
        return None
    share = found / total
    st.caption(f"The boxes shown contain {found} of sep's {total} sources with S/N > 10 ({share:.0%}).")
    if share < HINT_BELOW and upsample == 1:
        st.info("Many sources sep finds have no box: galaxies here may be only 2-4 px across. "
                "Choose **Small-object pass: 1.5x** in the sidebar to look for them (slower, and "
                "some of its extra boxes are noise).")
    return share
