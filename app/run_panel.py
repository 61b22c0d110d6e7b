"""Detector and classifier settings, and the (cached) run with a progress bar."""

from __future__ import annotations

import streamlit as st

from app import caching
from app.field_source import LoadedField
from galaxy_core import pipeline, shipped
from galaxy_core.detection.base import OPERATING_FLOOR, SEES_RENDER
from galaxy_core.detection.sep import SepDetector
from galaxy_core.display import RenderSettings
from galaxy_core.types import Detection

METHOD_NAMES = {"yolo": "YOLO (learned detector)", "sep": "sep (classical baseline)"}
#: YOLO score floors offered in the sidebar; 0.25 is the detector's operating point.
FLOORS = (0.05, 0.1, 0.15, 0.25)
#: The app keeps boxes from 0.15 so that the threshold slider (0.25 to start) can go lower
#: at once: on the XDF picture 2,179 boxes instead of 1,784.
DEFAULT_FLOOR = 0.15
#: Small-object pass factors offered in the sidebar, with their labels.
UPSAMPLE_NAMES = {1: "Off (native scale)", 1.5: "1.5x upsampled", 2: "2x upsampled"}


def default_floor(method: str) -> float:
    """The score floor a run starts with in the app: DEFAULT_FLOOR for YOLO, sep's own."""
    return DEFAULT_FLOOR if method == "yolo" else OPERATING_FLOOR[method]


def run_controls() -> tuple[pipeline.RunSettings, bool]:
    """Sidebar widgets for the run; returns (settings, whether to run now)."""
    st.header("2. Detect and classify")
    methods = shipped.available_methods()
    method = st.selectbox("Detector", methods, format_func=METHOD_NAMES.get, key="method")
    if "yolo" not in methods:
        st.caption("The YOLO detector's weights are not installed: sep only.")
    has_classifier = shipped.classifier_available()
    st.session_state.setdefault("classify", has_classifier)
    classify = st.checkbox("Classify morphology", key="classify",
                           disabled=not has_classifier,
                           help=None if has_classifier else "The classifier's weights are not installed.")
    tta = st.checkbox("Classifier test-time augmentation (8 views)", value=False, key="tta",
                      disabled=not (classify and has_classifier),
                      help="Average the classifier over rotations and flips: steadier, 8x slower.")
    sigma, minarea, upsample, floor, detect_tta = 3.0, 5, 1, default_floor(method), False
    if method == "yolo":
        floor = st.select_slider(
            "Keep boxes scoring at least", FLOORS, value=floor, key="floor",
            help="The detector's floor: boxes below it are not kept, and the confidence "
                 "threshold under Filter starts here. Lower it for fainter candidates (more "
                 "boxes on noise, and more to classify).")
        detect_tta = st.checkbox(
            "Detector test-time augmentation (4 flips)", value=False, key="detect_tta",
            help="Also run the detector on each tile flipped left-right, top-bottom and both, "
                 "and average: fewer missed galaxies and fewer boxes on noise (held-out "
                 "synthetic fields: AP 0.81 to 0.83), about 4x the detection time.")
        upsample = st.selectbox(
            "Small-object pass", tuple(UPSAMPLE_NAMES), format_func=UPSAMPLE_NAMES.get,
            key="upsample",
            help="Run the detector on the field upsampled, for galaxies only 2 to 4 px across "
                 "(a deep field shown whole). 1.5x finds nearly all of them in 2 to 3 times the "
                 "time; 2x finds the last few in about 4x the time. Both also box noise specks "
                 "(a confidence threshold of 0.35 to 0.5 drops most of them).")
    if method == "sep":
        sigma = st.slider("sep threshold (sigma)", 1.0, 10.0, 3.0, 0.5, key="sep_sigma")
        minarea = st.slider("sep minimum area (px)", 1, 50, 5, key="sep_minarea")
    settings = pipeline.RunSettings(method=method, classify=classify and has_classifier, tta=tta,
                                    min_score=floor, detect_tta=detect_tta, upsample=upsample,
                                    sep_thresh_sigma=sigma, sep_minarea=minarea)
    auto = st.toggle("Run on every change", value=True, key="auto_run")
    clicked = st.button("Run", key="run_button", type="primary", disabled=auto)
    return settings, auto or clicked


def run_key(loaded: LoadedField, render_settings: RenderSettings,
            settings: pipeline.RunSettings) -> tuple:
    """The cache key of a run: a detector that sees only pixels, without the classifier,
    ignores the stretch."""
    needs_rgb = SEES_RENDER[settings.resolved_method()] or settings.classify
    rkey = caching.settings_key(render_settings) if needs_rgb else None
    return (loaded.key, rkey, caching.settings_key(settings))


def run_detection(loaded: LoadedField, render_settings: RenderSettings,
                  settings: pipeline.RunSettings) -> caching.StoredRun:
    """The run's result, from the store or computed now with a progress bar."""
    key = run_key(loaded, render_settings, settings)
    store = caching.run_store()
    found = store.get(key)
    if found is not None:
        return found
    bar = st.progress(0.0, text="Starting...")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

    def compute() -> caching.StoredRun:
        return caching.StoredRun(pipeline.run(
            loaded.field, render_settings, settings,
            classifier=caching.classifier() if settings.classify else None, progress=progress))

    try:
        return store.get_or_run(key, compute)
    finally:
        bar.empty()


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Running the sep baseline...")
def sep_baseline(fkey: str, _loaded: LoadedField) -> tuple[Detection, ...]:
    """The sep baseline's detections (default settings) for the overlay."""
    return tuple(SepDetector()(_loaded.field))


def last_result() -> caching.StoredRun | None:
    """The run shown before, when the user turned automatic runs off."""
    key = st.session_state.get("last_run_key")
    return None if key is None else caching.run_store().get(key)


def reliability_rule():
    """When the loaded classifier's classes are trusted (None without a classifier or a measured rule)."""
    clf = caching.classifier()
    return None if clf is None else clf.reliability
