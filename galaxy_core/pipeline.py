"""End to end: a field and settings in, a :class:`RunResult` out.

    field -> render (RGB) -> detect (YOLO on the RGB, or sep on the pixels)
          -> frame each detection -> classify (six probabilities) -> RA/Dec

The learned models are optional at run time: ``"yolo"`` is available only when
its weights ship, and classification runs only when the classifier's do
(:mod:`galaxy_core.shipped`); without them the pipeline still gives sep
detections.

>>> from galaxy_core.io.synthetic import synthetic_field
>>> field, _ = synthetic_field(seed=1, size=256, n_galaxies=4, n_stars=1)
>>> result = run(field, settings=RunSettings(method="sep", classify=False))
>>> all(d.ra is not None for d in result.detections), result.floor
(True, 0.05)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from galaxy_core import shipped
from galaxy_core.detection.base import (
    Detector,
    DetectSettings,
    Progress,
    score_floor,
)
from galaxy_core.display import RenderSettings, default_settings, render
from galaxy_core.display.picture import ArrayPicture, Picture, WindowedPicture, as_picture
from galaxy_core.display.render import plan_render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.mosaic import LazyField, is_lazy
from galaxy_core.types import CLASS_NAMES, STAR_CLASS, Detection, Field


@lru_cache(maxsize=1)
def load_detector():
    """The shipped YOLO detector (:class:`~galaxy_core.detection.yolo.YoloDetector`), loaded once."""
    from galaxy_core.detection.yolo import YoloDetector

    return YoloDetector(shipped.DETECTOR_WEIGHTS)


@lru_cache(maxsize=1)
def load_classifier():
    """The shipped morphology classifier (:class:`~galaxy_core.morphology.classifier.Classifier`), loaded once."""
    from galaxy_core.morphology.classifier import Classifier

    return Classifier.load(shipped.CLASSIFIER_WEIGHTS)


@dataclass(frozen=True)
class RunSettings:
    """What one run does (the stretch is a separate RenderSettings).

    Attributes:
        method: ``"yolo"``, ``"sep"`` or ``"auto"`` (YOLO when its weights ship).
        classify: add the six class probabilities when the classifier ships.
        tta: classify with test-time augmentation (8 rotations and flips): 8x the
            classifier's time, so off by default for whole fields.
        min_score: the run's score floor in [0, 1): no detection below it is kept
            (YOLO runs at this confidence); the app filters above it.  None: the
            method's own (:data:`galaxy_core.detection.base.OPERATING_FLOOR`).
        detect_tta: YOLO's flip test-time augmentation (:mod:`galaxy_core.detection.flip_tta`):
            each tile also seen flipped three ways, about 4x the detector's time.
        upsample: YOLO's small-object pass: its tiles see the field upsampled
            this many times (1 = native scale; 1.5 or 2 for galaxies 2 to 4 px
            across, 2-3x or about 4x the time).  sep ignores it.
        sep_thresh_sigma, sep_minarea: the sep baseline's threshold (sigma) and area (px).
    """

    method: str = "auto"
    classify: bool = True
    tta: bool = False
    min_score: float | None = None
    detect_tta: bool = False
    upsample: float = 1
    sep_thresh_sigma: float = 3.0
    sep_minarea: int = 5

    def __post_init__(self) -> None:
        if self.method not in (*shipped.METHODS, "auto"):
            raise GalaxyCoreError(f"Unknown detection method {self.method!r}; use yolo, sep or auto.")
        # Validated (and the factor normalised, 2.0 -> 2) by the detector's own settings.
        object.__setattr__(self, "upsample", self.detection.upsample)

    @property
    def detection(self) -> DetectSettings:
        """The detector's share of these settings (what every detector is called with)."""
        return DetectSettings(min_score=self.min_score, upsample=self.upsample,
                              flip_tta=self.detect_tta, sep_thresh_sigma=self.sep_thresh_sigma,
                              sep_minarea=self.sep_minarea)

    def resolved_method(self) -> str:
        """The method this run will use (``auto`` resolved against the shipped weights)."""
        if self.method == "auto":
            return shipped.available_methods()[0]
        return self.method

    @property
    def floor(self) -> float:
        """The run's score floor: its ``min_score``, else the resolved method's own."""
        return score_floor(self.resolved_method(), self.min_score)

    @property
    def classifies(self) -> bool:
        """Whether this run adds classes (asked for, and the classifier ships)."""
        return self.classify and shipped.classifier_available()


@dataclass(frozen=True, eq=False)
class RunResult:
    """What one run made.

    Attributes:
        detections: numbered 1..N, best first, classified when ``classified``.
        rgb: the rendered field the models saw, uint8 (H, W, 3), read-only; None for a
            field too large to hold, rendered window by window (see ``picture``).
        method: the detection method used (``"yolo"`` or ``"sep"``).
        floor: the score floor: no detection scoring below it was kept.
        classified: whether the classifier ran.
        settings, render: the settings that made it.
        seconds: wall time of the run, s.
        complete: False for the partial results a run shows while it works.
        picture: the rendered field as a :class:`~galaxy_core.display.picture.Picture`
            (cutouts of a field too large to hold are rendered from it on demand).
        notes: what a user should know about the result (e.g. a blank field, no detections).
    """

    detections: tuple[Detection, ...]
    rgb: np.ndarray | None
    method: str
    floor: float
    classified: bool
    settings: RunSettings
    render: RenderSettings
    seconds: float
    complete: bool = True
    picture: Picture | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.picture is None and self.rgb is not None:
            object.__setattr__(self, "picture", ArrayPicture(self.rgb))

    @property
    def upsample(self) -> float:
        """YOLO's small-object pass factor (1 for sep)."""
        return self.settings.upsample if self.method == "yolo" else 1

    @property
    def detect_tta(self) -> bool:
        """Whether YOLO ran with its flip test-time augmentation."""
        return self.settings.detect_tta and self.method == "yolo"


def detector_for(method: str) -> Detector:
    """The detector of ``method``: the shipped YOLO model (loaded once) or sep's baseline."""
    if method == "sep":
        from galaxy_core.detection.sep import SepDetector

        return SepDetector()
    if method not in shipped.available_methods():
        raise GalaxyCoreError("The YOLO detector's weights (weights/detector.pt) are not installed.")
    return load_detector()


def classify(rgb: np.ndarray | Picture, detections: Sequence[Detection], *, classifier=None,
             tta: bool = False,
             progress: Progress | None = None, batch: int = 64,
             on_batch: Callable[[list[Detection]], None] | None = None,
             others: np.ndarray | None = None) -> list[Detection]:
    """Detections with the six class probabilities, a class as label, the extent, the peak S/N
    and the accuracy expected at that extent and S/N (when the classifier has its grid).

    The label is the most probable class, except where the detector called the
    object a star: then it is :data:`~galaxy_core.types.STAR_CLASS` (the
    probabilities stay the classifier's) and it has no ``morph_accuracy`` (the
    grid measures the classifier's classes of galaxies, not the detector's
    stars); the detector's own label is kept as ``detector_label``.
    Each object is framed with the other detections' boxes left out of its
    segment (:func:`~galaxy_core.morphology.framing.frame_detection`), so a
    neighbour does not change its crop or its extent.  ``rgb`` may be a
    :class:`~galaxy_core.display.picture.Picture` rendered window by window: the
    detections are then framed in row order, and returned in their own order.
    ``on_batch(detections)`` gets every detection after each batch: those classified so
    far with their classes, the others as they came.  ``others`` are the boxes kept out of
    each segment (default: those of ``detections``; a window of a mosaic passes the whole
    field's).
    """
    if not detections:
        return []
    from galaxy_core.morphology.framing import detection_boxes

    picture = as_picture(rgb)
    classifier = classifier or load_classifier()
    if others is None:
        others = detection_boxes(detections)
    if isinstance(picture, ArrayPicture):
        return _classify(picture, detections, others, classifier, tta, progress, batch, on_batch)
    rows = np.argsort([d.y for d in detections], kind="stable")
    done = _classify(picture, [detections[i] for i in rows], others, classifier, tta, progress,
                     batch, None)
    return [done[k] for k in np.argsort(rows)]


def _classify(picture: Picture, detections: Sequence[Detection], boxes: np.ndarray, classifier,
              tta: bool, progress: Progress | None, batch: int,
              on_batch: Callable[[list[Detection]], None] | None) -> list[Detection]:
    """:func:`classify` in the given order; one thread frames the next batch while the
    network classifies this one (the network's engine lets go of the interpreter)."""
    from concurrent.futures import ThreadPoolExecutor

    from galaxy_core.morphology.framing import frame_detection
    from galaxy_core.morphology.int8 import quantised

    cheap = None if tta else quantised(classifier)
    near = _neighbours(detections, boxes)

    def frame(start: int) -> list:
        return [frame_detection(picture, d, classifier.input_size, settings=classifier.framing,
                                others=boxes[near(k)])
                for k, d in enumerate(detections[start:start + batch], start=start)]

    probs, extents, snrs, nets = [], [], [], []
    with ThreadPoolExecutor(1) as pool:
        framing = pool.submit(frame, 0)
        for start in range(0, len(detections), batch):
            framed = framing.result()
            if start + batch < len(detections):
                framing = pool.submit(frame, start + batch)
            extents += [f.extent_px for f in framed]
            snrs += [f.peak_snr for f in framed]
            p, n = _predict(classifier, cheap, np.stack([f.crop for f in framed]),
                            extents[start:], snrs[start:], tta)
            probs.append(p)
            nets += n
            _report(detections, start + len(framed), probs, extents, snrs, nets, classifier,
                    on_batch, progress)
    return _with_classes(detections, np.concatenate(probs), extents, snrs, nets, classifier)


def _report(detections, done_count: int, probs, extents, snrs, nets, classifier, on_batch,
            progress) -> None:
    """Tell the caller how far classification is (the partial result, the progress line)."""
    if on_batch:
        done = _with_classes(detections, np.concatenate(probs), extents, snrs, nets, classifier)
        on_batch(done + list(detections[len(done):]))
    if progress:
        progress(min(1.0, done_count / len(detections)),
                 f"Classified {done_count} of {len(detections)} objects")


def _neighbours(detections: Sequence[Detection], boxes: np.ndarray) -> Callable[[int], np.ndarray]:
    """For detection ``k``, the indices of the ``boxes`` that reach into the square framing cuts
    around it (found for all at once without comparing all pairs)."""
    from galaxy_core.detection.boxes import candidate_pairs
    from galaxy_core.morphology.framing import context_boxes

    i, j = candidate_pairs(context_boxes(detections), boxes)
    starts = np.searchsorted(i, np.arange(len(detections) + 1))
    return lambda k: j[starts[k]:starts[k + 1]]


def _predict(classifier, cheap, crops: np.ndarray, extents: Sequence[float], snrs: Sequence[float],
             tta: bool) -> tuple[np.ndarray, list[str]]:
    """Probabilities of framed crops and the network each came from: the quantised one
    (:mod:`galaxy_core.morphology.int8`), when it ships, for objects whose measured extent and
    peak S/N say their class cannot be trusted (the float network for the others)."""
    from galaxy_core.morphology.int8 import predict_int8

    rule = classifier.reliability
    cheap_ones = np.zeros(len(crops), bool)
    if cheap is not None and rule is not None:
        cheap_ones = ~rule.reliable(np.asarray(extents, float), np.asarray(snrs, float))
    if not cheap_ones.any():
        return np.asarray(classifier.predict(crops, tta=tta, framed=True), float), ["float32"] * len(crops)
    quick = predict_int8(cheap, crops[cheap_ones], classifier.temperature)
    probs = np.zeros((len(crops), quick.shape[1]))
    probs[cheap_ones] = quick
    if (~cheap_ones).any():
        probs[~cheap_ones] = classifier.predict(crops[~cheap_ones], tta=tta, framed=True)
    return probs, ["int8" if c else "float32" for c in cheap_ones]


def _with_classes(detections: Sequence[Detection], probs: np.ndarray, extents: Sequence[float],
                  snrs: Sequence[float], nets: Sequence[str], classifier) -> list[Detection]:
    """``detections`` (the first ``len(probs)`` of them) with their classes and size figures."""
    grid, rule = classifier.accuracy_grid, classifier.reliability
    accuracy = (grid.expected_accuracy(extents, snrs) if grid is not None
                else np.full(len(extents), np.nan))
    reliable = rule.reliable(extents, snrs) if rule is not None else np.zeros(len(extents), bool)
    return [
        replace(d, probs=tuple(float(p) for p in row), label=class_label(row, d.label),
                detector_label=d.label, extent_px=extent, peak_snr=snr,
                morph_accuracy=None if np.isnan(acc) or d.label == "star" else float(acc),
                morph_reliable=bool(ok), class_precision=net)
        for d, row, extent, snr, acc, ok, net in zip(detections, probs, extents, snrs, accuracy,
                                                     reliable, nets, strict=False)
    ]


def blank_field_note(field: Field | LazyField) -> str | None:
    """Why a field holds nothing to detect (every finite pixel of it the same), else None.

    A blank or constant field renders as one flat grey, where a learned detector may
    still box something; it gets no detections and this note instead.
    """
    data = field.sample().data if is_lazy(field) else field.data
    lo, hi = np.fmin.reduce(data, axis=None), np.fmax.reduce(data, axis=None)  # NaN ignored
    if hi > lo:
        return None
    value = f"{lo:g}" if np.isfinite(lo) else "blank"
    return (f"'{field.name}' is constant (every pixel {value}): there is nothing to detect, "
            "so it has no detections.")


def rendered(field: Field | LazyField, settings: RenderSettings) -> Picture:
    """The field rendered as the models see it: whole (read-only array), or window by window
    for a :class:`~galaxy_core.io.mosaic.LazyField` (the stretch measured on sampled rows)."""
    if is_lazy(field):
        return WindowedPicture(field, plan_render(field.sample(), settings))
    rgb = render(field, settings)
    rgb.flags.writeable = False
    return ArrayPicture(rgb)


def class_label(probs: Sequence[float], detector_label: str) -> str:
    """The class of one detection: :data:`~galaxy_core.types.STAR_CLASS` for the detector's
    stars, else the most probable of ``probs`` (CLASS_NAMES order)."""
    return STAR_CLASS if detector_label == "star" else CLASS_NAMES[int(np.argmax(probs))]


def run(field: Field | LazyField, render_settings: RenderSettings | None = None,
        settings: RunSettings | None = None, *, detector: Detector | None = None, classifier=None,
        progress: Progress | None = None,
        on_partial: Callable[[RunResult], None] | None = None) -> RunResult:
    """Render, detect, classify: one run's :class:`RunResult`.

    ``progress(fraction, message)`` is called with the overall fraction done;
    ``detector`` / ``classifier`` default to the method's (shipped models are loaded once).
    ``on_partial(result)`` is called with what is ready so far, so a viewer can show it:
    after rendering (no detections yet), after detection (unclassified), and after each
    batch of classified objects (the first ones classified, the rest as detected);
    ``result.complete`` is False for all of these.
    """
    start = time.perf_counter()
    settings = settings or RunSettings()
    lazy = is_lazy(field)
    if lazy and settings.upsample > 1:
        raise GalaxyCoreError("The small-object pass needs the whole field in memory; this one is "
                              "read window by window. Turn the pass off, or cut a smaller region.")
    render_settings = render_settings or default_settings(field.sample() if lazy else field)
    method = settings.resolved_method()

    def stage(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda f, msg: progress(lo + (hi - lo) * float(f), msg)

    if progress:
        progress(0.0, "Rendering the field")
    picture = rendered(field, render_settings)
    rgb = picture.rgb if isinstance(picture, ArrayPicture) else None
    classified = settings.classify and (classifier is not None or shipped.classifier_available())

    blank = blank_field_note(field)

    def result(detections: Sequence[Detection], done: bool = False) -> RunResult:
        return RunResult(tuple(detections), rgb=rgb, method=method, floor=settings.floor,
                         classified=classified, settings=settings, render=render_settings,
                         seconds=time.perf_counter() - start, complete=done, picture=picture,
                         notes=(blank,) if blank else ())

    if blank:
        return result((), done=True)
    if on_partial:
        on_partial(result(()))
    detector = detector or detector_for(method)
    detections = detector.detect(field, picture, settings.detection, progress=stage(0.05, 0.7))
    if classified:
        if on_partial:
            on_partial(result(detections))
        detections = classify(picture, detections, classifier=classifier, tta=settings.tta,
                              progress=stage(0.7, 1.0),
                              on_batch=(lambda done: on_partial(result(done))) if on_partial else None)
    if progress:
        progress(1.0, f"Done: {len(detections)} detections")
    return result(detections, done=True)
