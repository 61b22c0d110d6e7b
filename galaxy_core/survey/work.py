"""What a worker does: one field whole, or one window of a mosaic.

A field that fits a worker is one task (:func:`run_field`): the single-field
pipeline, its catalogue rows tagged with ``field``, ``hdu`` and ``window``.  A
mosaic (an uncompressed FITS field larger than :data:`~galaxy_core.io.load.HOLD_BYTES`)
is planned once (:func:`plan_mosaic`: the render plan from sampled rows, its
windows) and run as window tasks: each window predicts its own rows of tiles
(:func:`detect_window`), one task the coarse pass and the border's sky
(:func:`detect_coarse`); the client merges all the boxes as the single-field
path merges its tiles (:func:`finish_mosaic`), then each window classifies
the detections centred in its rows (:func:`classify_window`).  The windows
do not depend on the number of workers, so a mosaic gives the same catalogue
on one worker as on many.

Every function takes and returns plain picklable values; models are loaded
once per worker process (:func:`galaxy_core.pipeline.load_detector`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_core import pipeline, shipped
from galaxy_core.catalog.table import to_frame
from galaxy_core.detection import sep as sep_module
from galaxy_core.detection import tiling
from galaxy_core.detection.base import score_floor
from galaxy_core.display import RenderSettings, default_settings
from galaxy_core.display.picture import WindowedPicture
from galaxy_core.display.render import RenderPlan, plan_render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.load import HOLD_BYTES, lazy_if_large, open_field
from galaxy_core.io.mosaic import LazyField, open_lazy_field
from galaxy_core.morphology.framing import detection_boxes
from galaxy_core.sky import with_sky
from galaxy_core.survey.specs import FieldSpec
from galaxy_core.types import Detection

#: Rows of pixels a mosaic window spans, about (whole rows of tiles).
WINDOW_ROWS = 4096
#: The catalogue columns a batch adds to the single-field ones.
BATCH_COLUMNS = ("field", "hdu", "window")


@dataclass(frozen=True)
class BatchSettings:
    """What every field of a batch is run with.

    Attributes:
        run: the pipeline's settings.
        render: the command line's stretch options (name, value) applied to each field's defaults.
        max_pixels: the largest field accepted, pixels per band.
        hold_bytes: float32 bytes (all bands) above which a field is a mosaic run in windows.
    """

    run: pipeline.RunSettings
    render: tuple[tuple[str, object], ...] = ()
    max_pixels: int = 400_000_000
    hold_bytes: int = HOLD_BYTES

    def render_settings(self, field) -> RenderSettings:
        """The field's own default stretch with the batch's options applied."""
        return default_settings(field).with_(**dict(self.render))

    def digest(self) -> str:
        """A short hash of everything that shapes the catalogue (settings and the weights used)."""
        weights = [str(p.stat().st_size) + str(p.stat().st_mtime_ns)
                   for p in (shipped.DETECTOR_WEIGHTS, shipped.CLASSIFIER_WEIGHTS) if p.exists()]
        return hashlib.sha1(repr((self.run, self.render, self.max_pixels, weights)).encode()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class FieldResult:
    """One field's outcome: its catalogue rows, or why it failed.

    Attributes:
        label, hdu: the field as the batch named it.
        status: ``"ok"`` or ``"failed"``.
        rows: the catalogue (single-field columns plus field, hdu, window); empty when failed.
        seconds: worker time spent on it, s.
        message: the error, or the notes of a field that worked (may be empty).
        windows: how many windows it ran in (1 for a whole field).
    """

    label: str
    hdu: int | str | None
    status: str
    rows: pd.DataFrame
    seconds: float
    message: str = ""
    windows: int = 1


def catalogue_rows(detections, spec: FieldSpec, windows: np.ndarray | int = 0) -> pd.DataFrame:
    """The single-field catalogue of ``detections`` with the batch's columns added."""
    df = to_frame(detections)
    df["field"] = spec.label
    df["hdu"] = "" if spec.hdu is None else str(spec.hdu)
    df["window"] = np.broadcast_to(np.asarray(windows, dtype=np.int64), (len(df),)).copy()
    return df


def failed(spec: FieldSpec, message: str, seconds: float = 0.0) -> FieldResult:
    """The result of a field that could not be processed."""
    return FieldResult(spec.label, spec.hdu, "failed", catalogue_rows([], spec), seconds, message)


def run_field(spec: FieldSpec, settings: BatchSettings) -> FieldResult:
    """One whole field through the single-field pipeline (a worker task).

    A user's error (unreadable, hostile or too large a file) is a failed result
    with its message, never an exception: other fields go on.
    """
    start = time.perf_counter()
    notes: list[str] = []
    try:
        field = open_field(list(spec.paths), hdu=spec.hdu, max_pixels=settings.max_pixels,
                           notes=notes, hold_bytes=settings.hold_bytes)
        result = pipeline.run(field, settings.render_settings(field), settings.run)
    except GalaxyCoreError as err:
        return failed(spec, str(err), time.perf_counter() - start)
    except MemoryError:
        return failed(spec, "ran out of memory on its worker", time.perf_counter() - start)
    return FieldResult(spec.label, spec.hdu, "ok", catalogue_rows(result.detections, spec),
                       time.perf_counter() - start, " ".join([*notes, *result.notes]))


@dataclass(frozen=True, eq=False)
class MosaicPlan:
    """How a mosaic runs in windows (made once, by the client).

    Attributes:
        spec: the field; height, width: its size, px.
        method: the detection method; floor: the score floor.
        plan: the render plan every window applies.
        bands: row bands (first, end) partitioning the rows: window k classifies the
            detections centred in band k.
        jobs: YOLO's tile jobs; windows: the fine job indices of each window; coarse: the
            coarse pass's job indices (all empty for sep).
        strips: sep's strips, one per window (empty for YOLO).
    """

    spec: FieldSpec
    height: int
    width: int
    method: str
    floor: float
    plan: RenderPlan
    bands: tuple[tuple[int, int], ...]
    jobs: tuple = ()
    windows: tuple[tuple[int, ...], ...] = ()
    coarse: tuple[int, ...] = ()
    strips: tuple = ()


def mosaic_of(spec: FieldSpec, settings: BatchSettings) -> LazyField | None:
    """The spec's field as a LazyField when it is a mosaic (too large for one task), else None."""
    return lazy_if_large([Path(p) for p in spec.paths], spec.hdu, settings.hold_bytes)


def plan_mosaic(spec: FieldSpec, lazy: LazyField, settings: BatchSettings) -> MosaicPlan:
    """The windows and render plan of a mosaic (reads its sampled rows)."""
    if lazy.height * lazy.width > settings.max_pixels:
        raise GalaxyCoreError(f"{spec.label} has {lazy.height * lazy.width / 1e6:.0f} megapixels per "
                              f"band, more than the limit of {settings.max_pixels / 1e6:.0f}.")
    if settings.run.upsample > 1:
        raise GalaxyCoreError("The small-object pass needs the whole field in memory; a mosaic is read "
                              "window by window. Turn the pass off.")
    method = settings.run.resolved_method()
    plan = plan_render(lazy.sample(), settings.render_settings(lazy))
    base = MosaicPlan(spec, lazy.height, lazy.width, method, settings.run.floor, plan, bands=())
    if method == "sep":
        strips = tuple(sep_module.strip_layout(lazy.height, lazy.width))
        return replace(base, strips=strips, bands=tuple((s.own_lo, s.own_hi) for s in strips))
    return _yolo_windows(base)


def _yolo_windows(base: MosaicPlan) -> MosaicPlan:
    """``base`` with YOLO's tiles grouped into windows of whole tile rows."""
    jobs = tiling.tile_jobs(base.height, base.width, tile=tiling.TILE_PX, overlap=tiling.OVERLAP_PX)
    fine = [i for i, job in enumerate(jobs) if job.source == "fine"]
    starts = sorted({jobs[i].tile.y0 for i in fine})
    per_window = max(1, WINDOW_ROWS // (tiling.TILE_PX - tiling.OVERLAP_PX))
    groups = [starts[k:k + per_window] for k in range(0, len(starts), per_window)]
    windows = tuple(tuple(i for i in fine if jobs[i].tile.y0 in set(g)) for g in groups)
    firsts = [g[0] for g in groups] + [base.height]
    bands = tuple((firsts[k], firsts[k + 1]) for k in range(len(groups)))
    coarse = tuple(i for i, job in enumerate(jobs) if job.source == "coarse")
    return replace(base, jobs=tuple(jobs), windows=windows, coarse=coarse, bands=bands)


def _picture(mosaic: MosaicPlan, sky=None) -> WindowedPicture:
    return WindowedPicture(open_lazy_field(list(mosaic.spec.paths), hdu=mosaic.spec.hdu),
                           mosaic.plan, sky=sky)


def detect_window(mosaic: MosaicPlan, settings: BatchSettings, k: int):
    """Window ``k``'s raw finds (a worker task): YOLO's unmerged boxes of its tiles, or sep's
    objects of its strip."""
    if mosaic.method == "sep":
        lazy = open_lazy_field(list(mosaic.spec.paths), hdu=mosaic.spec.hdu)
        return _sep(settings).strip_objects(lazy, mosaic.strips[k])
    jobs = [mosaic.jobs[i] for i in mosaic.windows[k]]
    detector = pipeline.load_detector()
    found = detector.tile_boxes(_picture(mosaic), jobs, conf=mosaic.floor, tta=settings.run.detect_tta)
    return (*found, detector.names)


def detect_coarse(mosaic: MosaicPlan, settings: BatchSettings):
    """The coarse pass's unmerged boxes (YOLO) and the border's sky, from one scan of the mosaic."""
    picture = _picture(mosaic)
    found = None
    if mosaic.coarse:
        jobs = [mosaic.jobs[i] for i in mosaic.coarse]
        found = pipeline.load_detector().tile_boxes(picture, jobs, conf=mosaic.floor,
                                                   tta=settings.run.detect_tta)
    return found, picture.edge_sky()


def finish_mosaic(mosaic: MosaicPlan, settings: BatchSettings, windows: list, coarse) -> list[Detection]:
    """All windows' finds merged into the mosaic's detections, numbered, with RA/Dec (client)."""
    wcs = open_lazy_field(list(mosaic.spec.paths), hdu=mosaic.spec.hdu).wcs
    if mosaic.method == "sep":
        objects, snr = sep_module.join_strips(windows)
        found = _sep(settings).to_detections(objects, snr, (mosaic.height, mosaic.width))
        return with_sky(found, wcs)
    parts = [*windows, *([coarse] if coarse is not None else [])]
    boxes, scores, labels = (np.concatenate([p[k] for p in parts]) for k in range(3))
    names = windows[0][3]  # the detector's class names, as a worker loaded them
    return tiling.finish_tiles(boxes, scores, labels, names, iou=0.5, conf=mosaic.floor,
                               height=mosaic.height, width=mosaic.width, wcs=wcs)


def window_of(mosaic: MosaicPlan, detections: list[Detection]) -> np.ndarray:
    """The window (row band) each detection's centre lies in."""
    firsts = np.array([lo for lo, _ in mosaic.bands])
    ys = np.array([d.y + 0.5 for d in detections], dtype=float)
    return np.clip(np.searchsorted(firsts, ys, side="right") - 1, 0, len(firsts) - 1)


def classify_window(mosaic: MosaicPlan, settings: BatchSettings, sky, detections: list[Detection],
                    others: np.ndarray) -> list[Detection]:
    """Some of the mosaic's detections classified (a worker task): framed in the windowed render,
    the whole field's boxes ``others`` kept out of each segment."""
    return pipeline.classify(_picture(mosaic, sky), detections, tta=settings.run.tta,
                             others=others)


def mosaic_boxes(detections: list[Detection]) -> np.ndarray:
    """The boxes every classification window keeps out of its segments."""
    return detection_boxes(detections)


def _sep(settings: BatchSettings) -> sep_module.SepDetector:
    run = settings.run
    return sep_module.SepDetector(thresh_sigma=run.sep_thresh_sigma, minarea=run.sep_minarea,
                                  min_score=score_floor("sep", run.min_score))
