"""View controls, the field with boxes, the detection table and the selection they share.

Every control here is the user's: none is drawn only sometimes or keyed on what
a run found, so no result can reset it.  The classes shown are kept as the
groups the user hid, so a group that appears later (classes filling in during
a run) is shown until the user hides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from app import caching
from app.caching import LoadedField, StoredRun
from app.field_figure import SHORT, field_figure, marker_curves
from app.media import media_url, media_urls
from app.plotly_spec import PreparedFigure
from app.viewport import size_pending
from galaxy_core.catalog.matching import centres_and_snr, coverage
from galaxy_core.catalog.review import filter_catalog, top_classes
from galaxy_core.catalog.triage import (
    PENDING,
    UNTRUSTED,
    display_groups,
    group_order,
    review_order,
    trusted,
    uncertainty,
)
from galaxy_core.display import RenderSettings
from galaxy_core.display.colours import colour_of
from galaxy_core.morphology.reliability import ReliabilityRule
from galaxy_core.types import CLASS_NAMES, Detection

ORDERS = ("Uncertain first", "Score, high first", "Id")
#: Rows in the table and ids in the picker.  Both cost browser time per row (about 0.5 s
#: per 350 rows on 2 cores, bench/bench_app.py); a plot click opens any detection.
TABLE_MAX_ROWS = 200
SELECTED = "detection_id"
#: The open detection, kept while the Inspect tab is closed (its picker is not drawn then).
KEPT = "detection_id_kept"
#: The display groups the user hid (session state, and the URL's ``hide``).
HIDDEN = "hidden_groups"
DEFAULT_THRESHOLD = 0.25


@dataclass(frozen=True)
class Filters:
    """What the user chose to see."""

    min_score: float
    hidden: tuple[str, ...]
    order: str
    sep_overlay: bool
    honest: bool = True
    sky_grid: bool = False


def view_controls(*, has_wcs: bool) -> Filters:
    """Sidebar widgets of the view: threshold, honest colours, order, overlays (no model re-runs).

    The classes shown are chosen beside the field (:func:`group_chooser`).
    """
    st.header("3. View")
    st.session_state.setdefault("threshold", DEFAULT_THRESHOLD)
    min_score = st.slider("Confidence threshold", 0.0, 1.0, step=0.01, key="threshold",
                          persist_state="session",
                          help="Hide detections scoring below this (no model is re-run). Boxes "
                               "under the run's floor (Detect and classify) were not kept.")
    st.session_state.setdefault("honest", True)
    honest = st.toggle("Grey out classes that cannot be trusted", key="honest",
                       persist_state="session",
                       help="Detections too small or too faint for the classifier (its own size "
                            "x S/N rule, weights/MODEL_CARD.md) are drawn grey and counted apart. "
                            "Off: they are coloured by their most probable class. Their "
                            "probabilities are in the table and the exports either way.")
    sky_grid = has_wcs and st.toggle("RA/Dec grid", key="sky_grid", persist_state="session",
                                     help="Lines of constant RA and Dec over the field.")
    order = st.radio("Table order", ORDERS, key="order", persist_state="session",
                     help="Uncertain first: trusted classes first, the classifier's least "
                          "certain (highest entropy) first; then untrusted ones; then the "
                          "unclassified by score.")
    sep_overlay = st.checkbox("Overlay the sep baseline", key="sep_overlay", persist_state="session",
                              help="sep's own boxes, dotted red, to see what each method finds.")
    hidden = tuple(st.session_state.get(HIDDEN, ()))
    return Filters(float(min_score), hidden, order, bool(sep_overlay), bool(honest), bool(sky_grid))


def with_groups(df: pd.DataFrame, filters: Filters, *, classifying: bool,
                stored: StoredRun | None = None) -> pd.DataFrame:
    """The catalogue with its display group per row (a new frame, made once per run and
    colouring when ``stored`` is given; shared: do not modify it)."""
    def make() -> pd.DataFrame:
        return df.assign(group=display_groups(df, honest=filters.honest, classifying=classifying))
    if stored is None:
        return make()
    return stored.derived(("groups", filters.honest, classifying), make)


def visible(df: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows (of a frame with groups) passing the filters, in the chosen order."""
    shown = filter_catalog(df, min_score=filters.min_score)
    if filters.hidden:
        shown = shown[~shown["group"].isin(filters.hidden)]
    if filters.order == "Uncertain first":
        return review_order(shown)
    if filters.order == "Score, high first":
        return shown.sort_values("score", ascending=False, kind="stable")
    return shown.sort_values("id", kind="stable")


def _hide_changed(widget_key: str, options: tuple[str, ...]) -> None:
    """Pills callback: the groups offered and not chosen are hidden, the others shown."""
    chosen = set(st.session_state.get(widget_key) or ())
    hidden = (set(st.session_state.get(HIDDEN, ())) - set(options)) | (set(options) - chosen)
    st.session_state[HIDDEN] = tuple(sorted(hidden))


def group_chooser(groups: pd.Series, filters: Filters) -> None:
    """Pills choosing which groups are drawn (each with its count)."""
    counts = groups.value_counts()
    options = tuple(group_order(groups.tolist()))
    if not options:
        return
    key = "groups@" + "|".join(options)
    st.session_state[key] = [g for g in options if g not in filters.hidden]
    st.pills("Classes shown", options, selection_mode="multi", key=key, label_visibility="collapsed",
             format_func=lambda g: f"{SHORT.get(g, g)} {counts.get(g, 0):,}",
             on_change=_hide_changed, args=(key, options))


def table_frame(df: pd.DataFrame, thumbs: list[str]) -> pd.DataFrame:
    """The table shown: thumbnail, id, class, trust, score, uncertainty, top classes,
    probabilities, size, position (the rows of ``df``, index kept)."""
    trust = trusted(df).to_numpy()
    group = df["group"].to_numpy(object) if "group" in df else df["label"].to_numpy(object)
    out = pd.DataFrame({
        "cutout": thumbs, "id": df["id"].to_numpy(), "class": df["label"].to_numpy(),
        "trusted": ["yes" if t else ("pending" if g == PENDING else ("no" if g == UNTRUSTED else ""))
                    for t, g in zip(trust, group, strict=True)],
        "score": df["score"].to_numpy(), "uncertainty": uncertainty(df).to_numpy(),
        "top classes": top_classes(df, k=2).to_numpy(),
    }, index=df.index)
    for name in CLASS_NAMES:
        out[name] = df[name].to_numpy()
    out["size"] = df["extent_px"].to_numpy()
    out["S/N"] = df["peak_snr"].to_numpy()
    out["expected accuracy"] = df["morph_accuracy"].to_numpy()
    for name in ("x", "y", "ra", "dec"):
        out[name] = df[name].to_numpy()
    return out


TABLE_COLUMNS = {
    "cutout": st.column_config.ImageColumn("cutout", width="small"),
    "id": st.column_config.NumberColumn("id", width="small"),
    "trusted": st.column_config.TextColumn(
        "trusted", width="small",
        help="Whether the class can be believed at this size and S/N (the classifier's own rule)."),
    "score": st.column_config.NumberColumn("score", format="%.3f", width="small"),
    "uncertainty": st.column_config.NumberColumn(
        "uncertainty", format="%.2f", width="small",
        help="Entropy of the six probabilities over ln 6: 0 one class certain, 1 all equal."),
    **{name: st.column_config.ProgressColumn(SHORT.get(name, name), min_value=0.0, max_value=1.0,
                                             format="%.2f", color=colour_of(name), width="small")
       for name in CLASS_NAMES},
    "size": st.column_config.NumberColumn(
        "size (px)", format="%.0f",
        help="Extent the classifier measured; too small, and its class is unreliable."),
    "S/N": st.column_config.NumberColumn(
        "S/N", format="%.0f", help="Peak of the smoothed object over the sky noise, in the picture shown."),
    "expected accuracy": st.column_config.NumberColumn(
        "expected accuracy", format="%.2f",
        help="Share of validation galaxies of this size and S/N the classifier got right "
             "(empty where not measured)."),
    "x": st.column_config.NumberColumn("x (px)", format="%.1f"),
    "y": st.column_config.NumberColumn("y (px)", format="%.1f"),
    "ra": st.column_config.NumberColumn("RA (deg)", format="%.6f"),
    "dec": st.column_config.NumberColumn("Dec (deg)", format="%.6f"),
}


def _select_from_plot() -> None:
    """Plot click -> the selected detection (customdata[0] of a clicked detection marker)."""
    state = st.session_state.get("field_plot")
    points = (state or {}).get("selection", {}).get("points", [])
    curves = set(st.session_state.get("marker_curves", ()))
    for p in points:
        data = p.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if data is not None and (not curves or p.get("curve_number") in curves):
            st.session_state[SELECTED] = int(data)
            return


def _select_from_table() -> None:
    """Table row click -> the selected detection (via the ids shown in the table)."""
    state = st.session_state.get("table")
    rows = (state or {}).get("selection", {}).get("rows", [])
    ids = st.session_state.get("table_ids", [])
    if rows and rows[0] < len(ids):
        st.session_state[SELECTED] = int(ids[rows[0]])


def field_view(loaded: LoadedField, settings: RenderSettings, shown: pd.DataFrame, total: int,
               sep: tuple[Detection, ...], *, counts: dict[str, int], sky_grid: bool,
               stored: StoredRun | None = None, banner: str | None = None,
               height_px: int | None = None, width_px: int | None = None,
               labelled: tuple[int, ...] = ()) -> None:
    """The zoomable field rendered with ``settings`` and the visible boxes, filling the space
    it is given; a click selects a detection.  The display render is also drawn as a plain
    picture under the plot, so the field shows before Plotly has loaded in the browser, and
    alone while the page waits for its size (:func:`app.viewport.size_pending`);
    ``labelled``: ids of the detections the user labelled (outlined apart)."""
    picture, block = caching.preview_jpeg(loaded, settings, flip=loaded.origin_lower)
    if size_pending():
        with st.container(key="field_box"), st.container(key="field_picture"):
            st.image(picture, width="stretch")
        return
    f = loaded.field
    spec = field_figure(media_url(picture, mimetype="image/jpeg", key="field_plot.image"),
                        block=block, width=f.width, height=f.height,
                        origin_lower=loaded.origin_lower, df=shown,
                        text=stored.row_text() if stored is not None else None, sep=sep,
                        selected_id=open_detection(), hover=caching.hover_trace(loaded),
                        counts=counts, banner=banner, height_px=height_px, width_px=width_px,
                        grid_lines=caching.graticule(loaded) if sky_grid else None,
                        labelled=labelled)
    st.session_state["marker_curves"] = marker_curves(spec)
    with st.container(key="field_box"):
        with st.container(key="field_picture"):  # under the plot while Plotly loads in the browser
            st.image(picture, width="stretch")
        st.plotly_chart(PreparedFigure(spec), key="field_plot", on_select=_select_from_plot,
                        selection_mode=("points",),
                        height="stretch",
                        config={"scrollZoom": True, "displaylogo": False, "responsive": True})


def detection_table(stored: StoredRun, shown: pd.DataFrame, *, origin_lower: bool,
                    everything: pd.DataFrame | None = None, colouring: tuple = (),
                    labels: dict[int, str] | None = None) -> None:
    """The sortable table (first TABLE_MAX_ROWS rows in the chosen order); a row click selects.

    ``everything``: all the run's rows with their groups (``colouring`` names how they were
    grouped), whose table rows are written once and picked from on each rerun; ``labels``:
    the user's label of each labelled detection (a column after the class)."""
    head = shown.head(TABLE_MAX_ROWS)
    thumbs = media_urls(stored.thumbnails(head["id"].tolist(), origin_lower=origin_lower),
                        mimetype="image/jpeg", key="table_cutout")
    st.session_state["table_ids"] = head["id"].tolist()
    if len(shown) > TABLE_MAX_ROWS:
        st.caption(f"The first {TABLE_MAX_ROWS} of {len(shown)} rows in this order; click a circle "
                   "in the field to open any other. The exports hold them all.")
    if everything is not None and len(head):
        rows = stored.derived(("table", *colouring),
                              lambda: table_frame(everything, [""] * len(everything)))
        table = rows.loc[head.index].assign(cutout=thumbs)
    else:
        table = table_frame(head, thumbs)
    if labels is not None:
        table = table.assign(**{"your label": [labels.get(int(i), "") for i in table["id"]]})
        table = table[["cutout", "id", "class", "your label",
                       *[c for c in table.columns if c not in ("cutout", "id", "class", "your label")]]]
    st.dataframe(table, key="table", on_select=_select_from_table,
                 selection_mode="single-row", hide_index=True, column_config=TABLE_COLUMNS,
                 row_height=64, height=460)


def open_detection() -> int | None:
    """The id of the open detection (the picker's, or the one kept while another tab was open)."""
    if SELECTED in st.session_state:
        return st.session_state[SELECTED]
    return st.session_state.get(KEPT)


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


def untrusted_note(groups: pd.Series, rule: ReliabilityRule | None) -> int:
    """Say how many detections are drawn grey because their class cannot be trusted; returns it."""
    n = int((groups == UNTRUSTED).sum())
    if n:
        where = rule.describe() if rule is not None else "too small or faint for the classifier"
        st.caption(f"{n:,} of {len(groups):,} detections are {where}: the classifier's class is "
                   "unreliable there, so they are drawn grey. Their probabilities stay in the "
                   "table and the exports.")
    return n


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
