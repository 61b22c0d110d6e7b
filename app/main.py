"""Galaxy inspector: ``streamlit run app/main.py`` from the repository root.

Pick a field, set the stretch, detect and classify, then inspect, filter,
compare and export.  The app opens on the bundled Hubble XDF picture: the
field at once, its boxes when detection ends, the classes as they come (demo
mode).  Runs happen off the page (:mod:`app.jobs`), so the page answers while
they work; no setting changes unless the user changes it, and a change that
would re-run a model says so and what it costs before it runs.  The URL holds
the view.  Every step is wrapped so that bad input shows a message, never a
traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import caching, url_state  # noqa: E402
from app.adapt_panel import adapt_section, weights_picker  # noqa: E402
from app.detail_panel import detection_detail  # noqa: E402
from app.field_figure import class_order  # noqa: E402
from app.field_source import field_picker  # noqa: E402
from app.guard import StepFailed, guarded  # noqa: E402
from app.label_panel import field_name, label_buttons, label_section, run_labels  # noqa: E402
from app.review_panel import (  # noqa: E402
    SELECTED,
    detection_picker,
    detection_table,
    field_view,
    group_chooser,
    open_detection,
    sep_coverage_note,
    untrusted_note,
    view_controls,
    visible,
    with_groups,
)
from app.run_panel import (  # noqa: E402
    RunView,
    live_progress,
    reliability_rule,
    resolve_run,
    run_controls,
    sep_baseline,
    stale_notice,
)
from app.stretch_panel import stretch_controls, stretch_preview  # noqa: E402
from app.tabs import TAB_KEY, TABS  # noqa: E402
from app.viewport import size_pending, window_size  # noqa: E402
from galaxy_core.catalog.provenance import result_provenance  # noqa: E402
from galaxy_core.display import default_settings  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

#: The page's layout: the field fills the window's height below the tabs, and the detail
#: panel sits beside it while both fit (else under it), never shrinking it to a thumbnail.
CSS = """<style>
.block-container {padding-top: 2.2rem; padding-bottom: 2rem; padding-left: 1.5rem;
                  padding-right: 1.5rem; max-width: none;}
.st-key-field_box {height: calc(100vh - OFFSETpx) !important; min-height: MINpx;
                  flex: none !important;}
.st-key-field_box {position: relative;}
.st-key-field_box .st-key-field_plot {height: 100% !important; flex: 1 1 auto !important;
                                      position: relative; z-index: 1;}
.st-key-field_picture {position: absolute !important; inset: 8px 200px 24px 44px; z-index: 0;
                       pointer-events: none;}
.st-key-field_box:has(.st-key-field_plot .main-svg) .st-key-field_picture {visibility: hidden;}
.st-key-field_picture img {width: 100% !important; height: 100% !important; object-fit: contain;
                           max-height: none !important;}
.st-key-field_picture [data-testid="stImageContainer"], .st-key-field_picture .stImage,
.st-key-field_picture [data-testid="stFullScreenFrame"], .st-key-field_picture .stElementContainer
    {width: 100% !important; height: 100% !important;}
.st-key-field_box [data-testid="stFullScreenFrame"], .st-key-field_box .stPlotlyChart
    {height: 100% !important;}
.st-key-inspect_row [data-testid="stHorizontalBlock"] {flex-wrap: wrap; row-gap: 1rem;}
.st-key-inspect_row [data-testid="stColumn"]:has(.st-key-field_col) {min-width: min(560px, 100%);}
.st-key-inspect_row [data-testid="stColumn"]:has(.st-key-detail_col) {min-width: min(420px, 100%);}
.st-key-augmentation_probs table {font-size: 0.8rem; width: 100%;}
.st-key-augmentation_probs th, .st-key-augmentation_probs td {padding: 2px 4px !important;}
</style>"""
#: Window height (px) not given to the field: the page's top, its status line and the tabs.
FIELD_OFFSET_PX = 160
MIN_FIELD_PX = 380
#: Width of the (open) sidebar, px.
SIDEBAR_PX = 300
#: Narrowest window (px) with room for the field and the detail panel side by side; in a
#: narrower one the panel opens over the field.
BESIDE_MIN_WIDTH = 1280


log = logging.getLogger("galaxy_app")


def main() -> None:
    start = time.perf_counter()
    st.set_page_config(page_title="Galaxy inspector", page_icon=":material/blur_on:", layout="wide")
    st.markdown(CSS.replace("OFFSET", str(FIELD_OFFSET_PX)).replace("MIN", str(MIN_FIELD_PX)),
                unsafe_allow_html=True)
    url_state.restore()
    try:
        page()
    except StepFailed:
        pass  # the failed step showed its message; the steps after it depend on it
    finally:
        log.info("page drawn in %.3f s", time.perf_counter() - start)


def page() -> None:
    st.sidebar.markdown("### :material/blur_on: Galaxy inspector")
    with st.sidebar, guarded("reading the field", reraise=True):
        loaded = field_picker()
    with st.sidebar, guarded("reading the run settings", reraise=True):
        run_settings, auto = run_controls()
    weights = caching.Weights()
    with st.sidebar, guarded("reading the classifier weights"):
        weights = weights_picker()
    with st.sidebar, guarded("reading the view settings", reraise=True):
        filters = view_controls(has_wcs=loaded is not None and loaded.field.wcs is not None)
        groups_box = st.container()
        st.session_state["window"] = window_size() or st.session_state.get("window")
    if loaded is None:
        st.info("Upload a file in the sidebar, or pick one of the demo fields.")
        url_state.write(url_state.params_of(None, None, None, run_settings))
        return
    field = loaded.field
    status_line, status = st.container(), st.container()
    # Lazy tabs: only the open tab's content runs and reaches the browser (widgets
    # whose state must survive a tab switch are drawn in every run).
    tab_inspect, tab_stretch, tab_export, tab_info = st.tabs(TABS, on_change="rerun", key=TAB_KEY)

    with tab_stretch:
        with guarded("setting the stretch", reraise=True):
            render_settings = stretch_controls(loaded)
        if tab_stretch.open:
            st.caption("The preview changes at once; the detections stay as they are until you "
                       "re-run (the notice above says when they are out of date).")
            with guarded("drawing the preview"):
                stretch_preview(loaded, render_settings)
    if tab_info.open:
        with tab_info, guarded("showing the header"):
            from app.field_info import field_info

            field_info(field)
    url_state.write(url_state.params_of(loaded.key, render_settings, default_settings(field),
                                        run_settings))

    with status, guarded("detecting and classifying", reraise=True):
        view = resolve_run(loaded, render_settings, run_settings, auto=auto, weights=weights)
        if view.error is not None:
            raise view.error
        stale_notice(view, run_settings)
        live_progress(view)
    stored = view.stored
    rule = reliability_rule()
    if stored is None:
        with tab_inspect, guarded("drawing the field"):
            _empty_field(loaded, render_settings, view)
        return
    result = stored.result
    df = stored.frame()
    classifying = result.classified and not result.complete
    gdf = with_groups(df, filters, classifying=classifying, stored=stored)
    with groups_box, guarded("listing the classes"):
        group_chooser(gdf["group"], filters)
        untrusted_note(gdf["group"], rule)
    shown = visible(gdf, filters)
    sep = ()
    if filters.sep_overlay:
        with status, guarded("running the sep baseline"):
            sep = sep_baseline(loaded.key, loaded)
    with status_line:
        if result.detections or result.complete:
            st.caption(_status_line(loaded, view, len(shown), len(df), len(sep)))
        else:
            st.caption(f"**{loaded.stem or field.name}** ({field.width:,} x {field.height:,} px): "
                       f"{result.method} is looking for objects...")
    if tab_inspect.open:
        with tab_inspect:
            _inspect(loaded, view, render_settings, filters, gdf, shown, sep, rule)
    if tab_export.open:
        with tab_export, guarded("preparing the exports"):
            if not result.complete:
                st.info("The exports are offered once the run has finished.")
            else:
                rows = shown.sort_values("id").drop(columns="group")
                labels = class_order(rows["label"].tolist())
                named = dataclasses.replace(field, name=loaded.stem or field.name)
                meta = result_provenance(named, result, threshold=filters.min_score,
                                         classes=tuple(labels))
                view_key = (stored.key, filters.min_score, filters.hidden, filters.honest)
                from app import export_panel  # astropy's and the regions package's writers

                export_panel.export_panel(rows, loaded, result.rgb, meta=meta, view_key=view_key)


def field_height(size: tuple[int, int] | None) -> int:
    """The field's height for a window of ``size`` (the CSS gives its box the same)."""
    return max(MIN_FIELD_PX, (size[1] if size else 900) - FIELD_OFFSET_PX)


def field_width(size: tuple[int, int] | None, *, beside: bool) -> int | None:
    """The field's width for a window of ``size`` (the sidebar and the page's margins taken
    off, and the detail panel's share when it is beside the field); None when unknown."""
    if size is None:
        return None
    main = size[0] - SIDEBAR_PX - 48
    return int(main * 0.6) if beside else main


def _status_line(loaded, view: RunView, visible: int, total: int, n_sep: int = 0) -> str:
    """One line over the tabs: what is shown, of which field, made how."""
    result, f = view.stored.result, loaded.field
    notes = [f"small-object pass {result.upsample}x"] if result.upsample > 1 else []
    notes += ["4 flips"] if result.detect_tta else []
    extras = f" ({', '.join(notes)})" if notes else ""
    how = f"{result.method} detector{extras}{' + classifier' if result.classified else ''}"
    made = "so far" if not result.complete else f"in {result.seconds:.1f} s"
    sep = f"; sep baseline: {n_sep} objects" if n_sep else ""
    return (f"Showing {visible} of {total} detections of **{loaded.stem or f.name}** "
            f"({f.width:,} x {f.height:,} px): {how}, scoring {result.floor:.2f} or more, {made}{sep}."
            " Hover: position, value" + (", RA/Dec" if f.wcs is not None else "")
            + "; click a box: its details.")


def _empty_field(loaded, render_settings, view: RunView) -> None:
    """The field without boxes while its first run waits or renders."""
    import pandas as pd

    from galaxy_core.catalog.table import to_frame

    banner = "Waiting in the queue..." if view.job is not None and view.job.state == "queued" \
        else "Detecting..."
    empty = to_frame([]).assign(group=pd.Series(dtype=object))
    window = st.session_state.get("window")
    field_view(loaded, render_settings, empty, 0, (), counts={}, sky_grid=False, banner=banner,
               height_px=field_height(window), width_px=field_width(window, beside=False))


def _close_detail() -> None:
    st.session_state[SELECTED] = None


def _inspect(loaded, view: RunView, render_settings, filters, gdf, shown, sep, rule) -> None:
    """The Inspect tab: the field (with the open detection beside it), then the table; the
    legend counts the boxes drawn."""
    stored = view.stored
    result = stored.result
    chosen = open_detection()
    det = stored.detection(chosen) if chosen is not None else None
    banner = None
    if view.running and not result.complete:
        done = sum(d.probs is not None for d in result.detections)
        banner = ("Detecting..." if not result.detections else
                  f"Classifying: {done:,} of {len(result.detections):,}" if result.classified else None)
    window = st.session_state.get("window")
    beside = det is not None and (window is None or window[0] >= BESIDE_MIN_WIDTH)
    labels = run_labels(loaded, stored)

    def labelling(d) -> None:
        label_buttons(loaded, d, labels.get(d.id), key="detail_label")
    if det is not None and not beside:  # too narrow for both: the panel opens over the field
        @st.dialog(f"#{det.id} {det.label}", width="large", on_dismiss=_close_detail)
        def panel() -> None:
            with guarded("opening the detection"):
                detection_detail(det, stored, origin_lower=loaded.origin_lower, rule=rule,
                                 title=False, labelling=labelling)
        panel()
    with st.container(key="inspect_row"):
        field_col, detail_col = st.columns([3, 2]) if beside else (st.container(), None)
        with field_col, st.container(key="field_col"), guarded("drawing the field"):
            field_view(loaded, render_settings, shown, len(gdf), sep, counts=None,
                       sky_grid=filters.sky_grid, stored=stored, banner=banner,
                       height_px=field_height(window), width_px=field_width(window, beside=beside),
                       labelled=tuple(labels))
            if sep and result.method == "yolo":
                sep_coverage_note(shown, sep, upsample=result.upsample)
        if detail_col is not None:
            with detail_col, st.container(key="detail_col"), guarded("opening the detection"):
                detection_detail(det, stored, origin_lower=loaded.origin_lower, rule=rule,
                                 on_close=_close_detail, labelling=labelling)
    with guarded("listing the detections"):
        detection_picker(shown, gdf["id"].tolist())
        if not size_pending():  # the first run of a page sends the field's picture first
            detection_table(stored, shown, origin_lower=loaded.origin_lower, everything=gdf,
                            colouring=(filters.honest, result.classified and not result.complete),
                            labels=labels)
        if det is not None:
            label_buttons(loaded, det, labels.get(det.id), key="table_label")
    try:
        with guarded("showing your labels", reraise=True):
            table = label_section(loaded, stored, labels)
        with guarded("adapting the classifier"):
            adapt_section(loaded, stored, table, field_name(loaded))
    except StepFailed:
        pass  # the labels' message is shown; adapting needs them


main()
