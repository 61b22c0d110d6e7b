"""Galaxy inspector: ``streamlit run app/main.py`` from the repository root.

Pick a field, set the stretch, detect and classify, then inspect, filter,
compare and export.  The app opens on the bundled Hubble XDF picture and runs
the best installed detector on it at once (demo mode).  Every step is wrapped
so that bad input shows a message, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import caching  # noqa: E402
from app.detail_panel import detection_detail  # noqa: E402
from app.export_panel import export_panel  # noqa: E402
from app.field_info import field_info  # noqa: E402
from app.field_source import field_picker  # noqa: E402
from app.guard import StepFailed, guarded  # noqa: E402
from app.review_panel import (  # noqa: E402
    detection_picker,
    detection_table,
    field_view,
    filter_controls,
    sep_coverage_note,
    small_objects_note,
    visible,
)
from app.run_panel import (  # noqa: E402
    last_result,
    reliability_rule,
    run_controls,
    run_detection,
    run_key,
    sep_baseline,
)
from app.stretch_panel import stretch_controls, stretch_preview  # noqa: E402
from app.tabs import TAB_KEY, TABS  # noqa: E402
from galaxy_core.catalog.provenance import result_provenance  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def main() -> None:
    st.set_page_config(page_title="Galaxy inspector", page_icon=":material/blur_on:", layout="wide")
    st.title("Galaxy inspector")
    st.caption("Detect galaxies in a Hubble field and see what the morphology classifier makes of them.")
    try:
        page()
    except StepFailed:
        pass  # the failed step showed its message; the steps after it depend on it


def page() -> None:
    with guarded("reading the field", reraise=True):
        loaded = field_picker()
    if loaded is None:
        st.info("Upload a file in the sidebar, or pick one of the demo fields.")
        return
    field = loaded.field
    origin_lower = field.kind == "fits"
    run_box, filter_box = st.sidebar.container(), st.sidebar.container()
    # Lazy tabs: only the open tab's content runs and reaches the browser (widgets
    # whose state must survive a tab switch are drawn in every run).
    tab_inspect, tab_stretch, tab_export, tab_info = st.tabs(TABS, on_change="rerun", key=TAB_KEY)

    with tab_stretch:
        with guarded("setting the stretch", reraise=True):
            render_settings = stretch_controls(loaded.key, field)
        if tab_stretch.open:
            with guarded("drawing the preview"):
                stretch_preview(loaded.key, field, render_settings)
    if tab_info.open:
        with tab_info, guarded("showing the header"):
            field_info(field)

    with run_box, guarded("reading the run settings", reraise=True):
        run_settings, run_now = run_controls()
    stored = None
    with tab_inspect, guarded("detecting and classifying", reraise=True):
        if run_now:
            key = run_key(loaded, render_settings, run_settings)
            stored = run_detection(loaded, render_settings, run_settings)
            st.session_state["last_run_key"] = key
        else:
            stored = last_result()
    if stored is None:
        with tab_inspect:
            st.info("Press Run in the sidebar to detect and classify.")
        return

    df = stored.frame()
    result = stored.result
    with filter_box, guarded("reading the filters", reraise=True):
        filters = filter_controls(df["label"].tolist(), classified=result.classified,
                                  floor=result.floor, rule=reliability_rule())
    shown = visible(df, filters)
    rkey = caching.settings_key(result.render)

    with tab_inspect:
        notes = [f"small-object pass {result.upsample}x"] if result.upsample > 1 else []
        notes += ["4 flips"] if result.detect_tta else []
        extras = f" ({', '.join(notes)})" if notes else ""
        st.caption(f"{result.method} detector{extras}{' + classifier' if result.classified else ''}: "
                   f"{len(df)} detections scoring {result.floor:.2f} or more in "
                   f"{result.seconds:.1f} s (cached for these settings).")
        small_objects_note(shown, reliability_rule())
        if tab_inspect.open:
            sep = ()
            if filters.sep_overlay:
                with guarded("running the sep baseline"):
                    sep = sep_baseline(loaded.key, loaded)
            field_col, detail_col = st.columns([3, 2])
            with field_col, guarded("drawing the field"):
                preview = caching.preview_uri(loaded.key, field, rkey, render_settings)
                field_view(loaded, preview, shown, len(df), sep)
                if sep and result.method == "yolo":
                    sep_coverage_note(shown, sep, upsample=result.upsample)
            with detail_col, guarded("opening the detection"):
                chosen = detection_picker(shown, df["id"].tolist())
                if chosen is not None:
                    det = next(d for d in result.detections if d.id == chosen)
                    detection_detail(det, stored, rkey, origin_lower=origin_lower,
                                     rule=reliability_rule())
            with guarded("listing the detections"):
                detection_table(stored, shown, origin_lower=origin_lower)
    if tab_export.open:
        with tab_export, guarded("preparing the exports"):
            meta = result_provenance(field, result, threshold=filters.min_score,
                                     classes=filters.classes)
            export_panel(shown.sort_values("id"), field, result.rgb, meta=meta)


main()
