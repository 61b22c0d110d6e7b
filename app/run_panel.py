"""Detector and classifier settings, and which run the page shows: never a model re-run the
user did not ask for, the last result on screen until the next is ready.

A session's first look at a field starts a run with its settings (demo mode).
After that a change of run settings, or of the stretch when the models see the
picture, only marks the result on screen as stale, says what changed and what
a re-run would cost, and offers the re-run; with "Re-run on every change" on,
the re-run starts at once and the page says so.  A result any session already
computed is shown at once.  Runs go through the process's queue
(:mod:`app.jobs`); the page draws each run's partial results as they come
(the field, then the boxes, then the classes) and a fragment polls the job.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from app import caching
from app.caching import LoadedField, StoredRun, Weights
from app.jobs import DONE, FAILED, Job
from galaxy_core import pipeline, shipped
from galaxy_core.detection.base import OPERATING_FLOOR, SEES_RENDER
from galaxy_core.detection.sep import SepDetector
from galaxy_core.display import RenderSettings
from galaxy_core.runcost import RunShape, say_seconds
from galaxy_core.types import Detection

log = logging.getLogger("galaxy_app")

METHOD_NAMES = {"yolo": "YOLO (learned detector)", "sep": "sep (classical baseline)"}
#: YOLO score floors offered in the sidebar; 0.25 is the detector's operating point.
FLOORS = (0.05, 0.1, 0.15, 0.25)
#: The app keeps boxes from 0.15 so that the threshold slider (0.25 to start) can go lower
#: at once: on the XDF picture 2,179 boxes instead of 1,784.
DEFAULT_FLOOR = 0.15
#: Small-object pass factors offered in the sidebar, with their labels.
UPSAMPLE_NAMES = {1: "Off (native scale)", 1.5: "1.5x upsampled", 2: "2x upsampled"}
#: How often a page waiting for a run asks the run for news, s.
POLL_S = 0.7
#: Fewest seconds between two redraws of the page for a new batch of classes.
REDRAW_S = 2.0
#: A run expected to take less than this (s) is waited for before the page is drawn.
WAIT_FOR_SHORT_RUNS_S = 2.0
#: Fields whose last finished result a session keeps (finished work is never dropped while
#: the session looks at it, whatever the shared store evicts).
KEPT_FIELDS = 3


def default_floor(method: str) -> float:
    """The score floor a run starts with in the app: DEFAULT_FLOOR for YOLO, sep's own."""
    return DEFAULT_FLOOR if method == "yolo" else OPERATING_FLOOR[method]


def session_id() -> str:
    """This browser session's id (a watcher of the jobs it waits for)."""
    return st.session_state.setdefault("sid", uuid.uuid4().hex)


def run_controls() -> tuple[pipeline.RunSettings, bool]:
    """Sidebar widgets for the run (drawn in every rerun, so their state is the user's alone);
    returns (settings, whether changes re-run at once)."""
    st.header("2. Detect and classify")
    methods = shipped.available_methods()
    method = st.selectbox("Detector", methods, format_func=METHOD_NAMES.get, key="method",
                          persist_state="session")
    if "yolo" not in methods:
        st.caption("The YOLO detector's weights are not installed: sep only.")
    has_classifier = shipped.classifier_available()
    if "classify" not in st.session_state:
        st.session_state["classify"] = has_classifier
    classify = st.checkbox("Classify morphology", key="classify", disabled=not has_classifier,
                           persist_state="session",
                           help=None if has_classifier else "The classifier's weights are not installed.")
    tta = st.checkbox("Classifier test-time augmentation (8 views)", key="tta",
                      disabled=not (classify and has_classifier), persist_state="session",
                      help="Average the classifier over rotations and flips: steadier, 8x slower.")
    sigma, minarea, upsample, floor, detect_tta = 3.0, 5, 1, default_floor(method), False
    if method == "yolo":
        st.session_state.setdefault("floor", DEFAULT_FLOOR)
        floor = st.select_slider(
            "Keep boxes scoring at least", FLOORS, key="floor", persist_state="session",
            help="The detector's floor: boxes below it are not kept. Lower it for fainter "
                 "candidates (more boxes on noise, and more to classify).")
        detect_tta = st.checkbox(
            "Detector test-time augmentation (4 flips)", key="detect_tta", persist_state="session",
            help="Also run the detector on each tile flipped left-right, top-bottom and both, "
                 "and average: fewer missed galaxies and fewer boxes on noise (held-out "
                 "synthetic fields: AP 0.81 to 0.83), about 4x the detection time.")
        upsample = st.selectbox(
            "Small-object pass", tuple(UPSAMPLE_NAMES), format_func=UPSAMPLE_NAMES.get,
            key="upsample", persist_state="session",
            help="Run the detector on the field upsampled, for galaxies only 2 to 4 px across "
                 "(a deep field shown whole). 1.5x finds nearly all of them in 2 to 3 times the "
                 "time; 2x finds the last few in about 4x the time. Both also box noise specks "
                 "(a confidence threshold of 0.35 to 0.5 drops most of them).")
    if method == "sep":
        sigma = st.slider("sep threshold (sigma)", 1.0, 10.0, 3.0, 0.5, key="sep_sigma",
                          persist_state="session")
        minarea = st.slider("sep minimum area (px)", 1, 50, 5, key="sep_minarea",
                            persist_state="session")
    settings = pipeline.RunSettings(method=method, classify=bool(classify and has_classifier),
                                    tta=bool(tta), min_score=floor, detect_tta=bool(detect_tta),
                                    upsample=upsample, sep_thresh_sigma=sigma, sep_minarea=minarea)
    auto = st.toggle("Re-run on every change", value=False, key="auto_run", persist_state="session",
                     help="Off: a change of these settings or of the stretch marks the result "
                          "as out of date and offers a re-run with its expected time. On: "
                          "the re-run starts at once.")
    return settings, auto


def run_key(loaded: LoadedField, render_settings: RenderSettings,
            settings: pipeline.RunSettings, weights: Weights | None = None) -> tuple:
    """The store key of a run: a detector that sees only pixels, without the classifier,
    ignores the stretch (and the classifier's weights)."""
    needs_rgb = SEES_RENDER[settings.resolved_method()] or settings.classify
    rkey = caching.settings_key(render_settings) if needs_rgb else None
    wkey = (weights or Weights()).key if settings.classifies else None
    return (loaded.key, rkey, caching.settings_key(settings), wkey)


def run_shape(loaded: LoadedField, settings: pipeline.RunSettings,
              objects: int | None = None) -> RunShape:
    """What decides the cost of running ``settings`` on ``loaded``."""
    f = loaded.field
    return RunShape(settings.resolved_method(), f.width * f.height / 1e6, upsample=settings.upsample,
                    flips=settings.detect_tta, classify=settings.classifies, tta=settings.tta,
                    objects=objects)


class _Locked:
    """A detector whose calls take turns (the YOLO predictor is not thread-safe)."""

    _lock = threading.Lock()

    def __init__(self, detector) -> None:
        self._detector = detector
        self.method, self.sees_render = detector.method, detector.sees_render

    def detect(self, *args, **kwargs):
        with self._lock:
            return self._detector.detect(*args, **kwargs)


def _work(loaded: LoadedField, render_settings: RenderSettings, settings: pipeline.RunSettings,
          key: tuple, shape: RunShape, weights: Weights):
    """The job: the pipeline run with each partial result published, stored when done."""
    def work(job: Job) -> StoredRun:
        marks: dict[str, float] = {}

        def on_partial(partial: pipeline.RunResult) -> None:
            marks.setdefault("detected" if partial.detections else "rendered", time.monotonic())
            job.publish(StoredRun(partial, key))

        method = settings.resolved_method()
        job.report(0.0, "Loading the models")
        detector = _Locked(pipeline.detector_for(method)) if method == "yolo" else None
        clf = weights.classifier() if settings.classifies else None
        result = pipeline.run(loaded.field, render_settings, settings, detector=detector,
                              classifier=clf, progress=job.report, on_partial=on_partial)
        end = time.monotonic()
        stored = StoredRun(result, key)
        caching.run_store().put(key, stored)
        rendered = marks.get("rendered", end)
        detected = marks.get("detected", end) if result.classified else end
        caching.cost_model().record(
            RunShape(shape.method, shape.megapixels, shape.upsample, shape.flips, shape.classify,
                     shape.tta, objects=len(result.detections)),
            detect_s=detected - rendered, classify_s=(end - detected) if result.classified else None)
        return stored
    return work


@dataclass
class RunView:
    """Which run the page draws and how it relates to the current settings.

    Attributes:
        stored: the run drawn (finished, or the partial result of the field's job), or None.
        stale: what differs between the drawn run and the current settings (empty: current).
        job: the job this session runs for the field (None when none).
        wanted: the run key of the current settings.
        estimate_s: the expected time of a run with the current settings.
        auto: whether changes re-run at once.
        error: the failure of the run with the current settings, to show.
    """

    stored: StoredRun | None
    stale: tuple[str, ...]
    job: Job | None
    wanted: tuple
    estimate_s: float
    auto: bool
    error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.active

    @property
    def running_current(self) -> bool:
        """A run with the current settings is under way."""
        return self.running and self.job.key == self.wanted


def request_run() -> None:
    """Button callback: the user asked for a run with the current settings."""
    st.session_state["run_requested"] = True


def _kept(fkey: str) -> tuple[tuple, StoredRun] | None:
    return st.session_state.setdefault("runs", {}).get(fkey)


def _keep(key: tuple, stored: StoredRun) -> None:
    runs = st.session_state.setdefault("runs", {})
    runs.pop(key[0], None)
    runs[key[0]] = (key, stored)
    while len(runs) > KEPT_FIELDS:
        runs.pop(next(iter(runs)))


_SETTING_NAMES = {"method": "the detector", "classify": "Classify morphology",
                  "tta": "the classifier's augmentation", "min_score": "the detector's floor",
                  "detect_tta": "the detector's flips", "upsample": "the small-object pass",
                  "sep_thresh_sigma": "sep's threshold", "sep_minarea": "sep's minimum area"}


def differences(shown: tuple, wanted: tuple) -> tuple[str, ...]:
    """What differs between two run keys of one field, in words ("the stretch", ...)."""
    out = []
    if None not in (shown[1], wanted[1]) and shown[1] != wanted[1]:
        out.append("the stretch")
    fields = list(pipeline.RunSettings.__dataclass_fields__)
    out += [_SETTING_NAMES.get(name, name)
            for name, a, b in zip(fields, shown[2][1:], wanted[2][1:], strict=True) if a != b]
    if None not in (shown[3], wanted[3]) and shown[3] != wanted[3]:
        out.append("the classifier's weights")
    return tuple(out)


def _collect(sid: str) -> None:
    """Take this session's finished jobs into its kept results (or failures); tell the queue it
    still watches the others."""
    pending: dict = st.session_state.setdefault("pending", {})
    failed: dict = st.session_state.setdefault("failed", {})
    queue = caching.run_queue()
    for fkey, key in list(pending.items()):
        job = queue.job(key)
        if job is not None and job.active:
            queue.watch(key, sid)
            continue
        del pending[fkey]
        if job is None:
            found = caching.run_store().get(key)
            if found is not None:
                _keep(key, found)
        elif job.state == DONE:
            _keep(key, job.result)
        elif job.state == FAILED:
            failed[fkey] = (key, job.error)


def resolve_run(loaded: LoadedField, render_settings: RenderSettings,
                settings: pipeline.RunSettings, *, auto: bool,
                weights: Weights | None = None) -> RunView:
    """Decide what the page draws and whether a run starts (see the module docstring);
    ``weights``: the classifier's (default the shipped ones)."""
    weights = weights or Weights()
    sid, fkey = session_id(), loaded.key
    queue, store = caching.run_queue(), caching.run_store()
    clicked = bool(st.session_state.pop("run_requested", False))
    wanted = run_key(loaded, render_settings, settings, weights)
    pending: dict = st.session_state.setdefault("pending", {})
    failed: dict = st.session_state.setdefault("failed", {})
    _collect(sid)
    if fkey in failed and (failed[fkey][0] != wanted or clicked):
        del failed[fkey]
    found = store.get(wanted)
    if found is not None:
        _keep(wanted, found)
    kept = _kept(fkey)
    if kept is not None and kept[0] == wanted:
        if pending.get(fkey) not in (None, wanted):
            queue.unwatch(pending.pop(fkey), sid)
        return RunView(kept[1], (), None, wanted, 0.0, auto)
    objects = len(kept[1].result.detections) if kept is not None else None
    estimate = caching.cost_model().estimate(run_shape(loaded, settings, objects)).total_s
    if fkey in failed:
        return RunView(kept[1] if kept else None, differences(kept[0], wanted) if kept else (),
                       None, wanted, estimate, auto, error=failed[fkey][1])
    first_look = kept is None and fkey not in pending
    if pending.get(fkey) != wanted and (first_look or clicked or auto):
        if fkey in pending:
            queue.unwatch(pending[fkey], sid)
        job = queue.submit(wanted, _work(loaded, render_settings, settings, wanted,
                                         run_shape(loaded, settings, objects), weights),
                           watcher=sid, estimate_s=estimate)
        pending[fkey] = wanted
        if estimate <= WAIT_FOR_SHORT_RUNS_S and queue.position(job) <= 1:
            job.wait(WAIT_FOR_SHORT_RUNS_S)
            _collect(sid)
            kept = _kept(fkey)
            if kept is not None and kept[0] == wanted:
                return RunView(kept[1], (), None, wanted, 0.0, auto)
            if fkey in failed:
                return RunView(None, (), None, wanted, estimate, auto, error=failed[fkey][1])
    job = queue.job(pending[fkey]) if fkey in pending else None
    if kept is not None:
        return RunView(kept[1], differences(kept[0], wanted), job, wanted, estimate, auto)
    partial = job.partial if job is not None else None
    stale = differences(job.key, wanted) if job is not None else ()
    return RunView(partial, stale, job, wanted, estimate, auto)


def progress_line(job: Job) -> tuple[float, str]:
    """(fraction, text) of a job for this session: its place in the queue, or its progress."""
    queue = caching.run_queue()
    place = queue.position(job)
    if job.state == "queued" and place:
        ahead = "1 run is" if place == 1 else f"{place} runs are"
        return 0.0, (f"Waiting in the queue: {ahead} ahead of yours (this server runs "
                     f"{queue.workers} at a time); yours starts in "
                     f"{say_seconds(queue.wait_s(job))}, then takes {say_seconds(job.estimate_s)}.")
    return job.fraction, (f"{job.message} · {say_seconds(job.elapsed_s())} so far, "
                          f"{say_seconds(job.left_s())} left")


def live_progress(view: RunView) -> None:
    """The progress of this session's job, refreshed while it runs; redraws the page when the job
    has more to show (a new stage at once, new classes every REDRAW_S), and when it ends."""
    if not view.running:
        return
    key = view.job.key
    st.session_state["drawn"] = (key, view.job.version, _stage(view.job.partial), time.monotonic())

    def more_to_show(job) -> bool:
        _, version, stage, at = st.session_state.get("drawn", (key, -1, -1, 0.0))
        return job.version != version and (_stage(job.partial) != stage
                                           or time.monotonic() - at >= REDRAW_S)

    job_progress(key, redraw=more_to_show)


def job_progress(key: tuple, redraw: Callable[[Job], bool] | None = None) -> None:
    """A queued job's place or progress bar, refreshed every POLL_S; the page redraws when the
    job ends, or when ``redraw(job)`` says it has more to show."""
    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        job = caching.run_queue().watch(key, session_id())
        if job is None or not job.active:
            st.rerun()
        fraction, text = progress_line(job)
        st.progress(fraction, text=text)
        if redraw is not None and redraw(job):
            st.rerun()

    poll()


def _stage(partial: StoredRun | None) -> int:
    """0 nothing yet, 1 field rendered, 2 boxes, 3 some classes."""
    if partial is None:
        return 0
    dets = partial.result.detections
    if not dets:
        return 1
    return 3 if dets[0].probs is not None else 2


def stale_notice(view: RunView, settings: pipeline.RunSettings) -> None:
    """Say the result drawn is out of date, why, and what a re-run costs, with the button."""
    if not view.stale:
        return
    what = " and ".join(view.stale)
    models = "detection and classification" if settings.classifies else "detection"
    if view.running_current:
        why = " as **Re-run on every change** is on" if view.auto else ""
        st.info(f"You changed {what}: re-running {models} with the current settings{why} "
                f"({say_seconds(view.job.estimate_s)}). The previous result stays until the new "
                "one is ready.", icon=":material/autorenew:")
        return
    made = "started" if view.running else "was made"
    left, right = st.columns([5, 1], vertical_alignment="center")
    with left:
        st.warning(f"**Out of date**: you changed {what} since this run {made}; the boxes and "
                   f"classes shown are its. Re-running {models} with the current settings takes "
                   f"{say_seconds(view.estimate_s)}.", icon=":material/history:")
    with right:
        st.button("Re-run now", key="run_button", type="primary", icon=":material/play_arrow:",
                  on_click=request_run, help=f"Expected: {say_seconds(view.estimate_s)}.")


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Running the sep baseline...")
def sep_baseline(fkey: str, _loaded: LoadedField) -> tuple[Detection, ...]:
    """The sep baseline's detections (default settings) for the overlay."""
    return tuple(SepDetector()(_loaded.field))


def reliability_rule():
    """When the classifier's classes are trusted: None without a measured rule, or while the
    classifier is still loading (a page never waits for it)."""
    clf = caching.classifier_if_loaded()
    return None if clf is None else clf.reliability
