"""End to end: a field and settings in, classified detections with RA/Dec out.

    field -> render (RGB) -> detect (YOLO on the RGB, or sep on the pixels)
          -> crop each detection -> classify (six probabilities) -> RA/Dec

The learned models are optional at run time: ``available_methods()`` lists
``"yolo"`` only when ``weights/detector.pt`` exists, and classification runs
only when ``weights/classifier.pt`` exists; without them the pipeline still
gives sep detections.

>>> from galaxy_core.synthetic import synthetic_field
>>> field, _ = synthetic_field(seed=1, size=256, n_galaxies=4, n_stars=1)
>>> dets = run(field, settings=RunSettings(method="sep", classify=False))
>>> all(d.ra is not None for d in dets)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from galaxy_core.catalog import renumber
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.render import RenderSettings, default_settings, render
from galaxy_core.sep_detect import SepDetector
from galaxy_core.tiling import UPSAMPLE_FACTORS, as_factor
from galaxy_core.types import CLASS_NAMES, Detection, Field

Progress = Callable[[float, str], None]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DETECTOR_WEIGHTS = WEIGHTS_DIR / "detector.pt"
CLASSIFIER_WEIGHTS = WEIGHTS_DIR / "classifier.pt"
METHODS = ("yolo", "sep")
#: The class a detection gets when the detector calls it a star (YOLO's ``"star"``): bright
#: Hubble stars have diffraction spikes the classifier never saw, and it calls most of them
#: galaxies, where YOLO's star label is right 0.92 of the time (bench/bench_star_labels.py).
STAR_CLASS = "Star/Artifact"
#: sep's score floor when a run names none (score = S/N / (S/N + 10): S/N 0.5).
SEP_MIN_SCORE = 0.05


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
            method's own, YOLO's operating point (the detector's ``conf``, 0.25)
            or :data:`SEP_MIN_SCORE` for sep.
        detect_tta: YOLO's flip test-time augmentation (:mod:`galaxy_core.flip_tta`):
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
        if self.method not in (*METHODS, "auto"):
            raise GalaxyCoreError(f"Unknown detection method {self.method!r}; use yolo, sep or auto.")
        if self.min_score is not None and not 0 <= self.min_score < 1:
            raise GalaxyCoreError("min_score must be in [0, 1).")
        if self.upsample not in UPSAMPLE_FACTORS:
            raise GalaxyCoreError(f"upsample must be one of {UPSAMPLE_FACTORS}.")
        object.__setattr__(self, "upsample", as_factor(self.upsample))  # 2.0 -> 2
        if self.sep_thresh_sigma <= 0 or self.sep_minarea < 1:
            raise GalaxyCoreError("The sep threshold must be > 0 sigma and the area >= 1 px.")

    def resolved_method(self) -> str:
        """The method this run will use (``auto`` resolved against the shipped weights)."""
        if self.method == "auto":
            return "yolo" if "yolo" in available_methods() else "sep"
        return self.method


def available_methods() -> tuple[str, ...]:
    """Detection methods usable on this install, best first."""
    return METHODS if DETECTOR_WEIGHTS.exists() else ("sep",)


def classifier_available() -> bool:
    """Whether the morphology classifier's weights ship with this install."""
    return CLASSIFIER_WEIGHTS.exists()


@lru_cache(maxsize=1)
def load_detector():
    """The shipped YOLO detector, loaded once per process."""
    from galaxy_core.yolo_detector import YoloDetector

    return YoloDetector(DETECTOR_WEIGHTS)


@lru_cache(maxsize=1)
def load_classifier():
    """The shipped morphology classifier, loaded once per process."""
    from galaxy_core.classifier import Classifier

    return Classifier.load(CLASSIFIER_WEIGHTS)


def detect(field: Field, rgb: np.ndarray, settings: RunSettings, *, detector=None,
           progress: Progress | None = None) -> list[Detection]:
    """Detections in ``field`` by the settings' method (YOLO sees ``rgb``, sep the pixels)."""
    method = settings.resolved_method()
    if method == "sep":
        sep_detector = SepDetector(thresh_sigma=settings.sep_thresh_sigma, minarea=settings.sep_minarea)
        floor = score_floor(settings)
        found = [d for d in sep_detector(field, progress=progress) if d.score >= floor]
    else:
        if not DETECTOR_WEIGHTS.exists() and detector is None:
            raise GalaxyCoreError("The YOLO detector's weights (weights/detector.pt) are not installed.")
        detector = detector or load_detector()
        found = detector(rgb, wcs=field.wcs, progress=progress, upsample=settings.upsample,
                         conf=settings.min_score, tta=settings.detect_tta)
    # Both detectors attach RA/Dec from the field's WCS; only the numbering changes here.
    return renumber(found)


def score_floor(settings: RunSettings, *, detector=None) -> float:
    """The score from which a run keeps detections: its ``min_score``, else the method's own
    (:data:`SEP_MIN_SCORE`, or the YOLO detector's ``conf``)."""
    if settings.min_score is not None:
        return settings.min_score
    if settings.resolved_method() == "sep":
        return SEP_MIN_SCORE
    return (detector or load_detector()).conf


def classify(rgb: np.ndarray, detections: Sequence[Detection], *, classifier=None, tta: bool = False,
             progress: Progress | None = None, batch: int = 64) -> list[Detection]:
    """Detections with the six class probabilities, a class as label, the extent, the peak S/N
    and the accuracy expected at that extent and S/N (when the classifier has its grid).

    The label is the most probable class, except where the detector called the
    object a star: then it is :data:`STAR_CLASS` (the probabilities stay the
    classifier's) and it has no ``morph_accuracy`` (the grid measures the
    classifier's classes of galaxies, not the detector's stars); the detector's
    own label is kept as ``detector_label``.
    Each object is framed with the other detections' boxes left out of its
    segment (:func:`~galaxy_core.framing.frame_detection`), so a neighbour does
    not change its crop or its extent.
    """
    if not detections:
        return []
    from galaxy_core.framing import detection_boxes, frame_detection

    classifier = classifier or load_classifier()
    size = classifier.input_size
    boxes = detection_boxes(detections)
    probs, extents, snrs = [], [], []
    for start in range(0, len(detections), batch):
        chunk = detections[start : start + batch]
        framed = [frame_detection(rgb, d, size, settings=classifier.framing, others=boxes) for d in chunk]
        extents += [f.extent_px for f in framed]
        snrs += [f.peak_snr for f in framed]
        crops = np.stack([f.crop for f in framed])
        probs.append(np.asarray(classifier.predict(crops, tta=tta, framed=True), dtype=float))
        if progress:
            progress(min(1.0, (start + len(chunk)) / len(detections)),
                     f"Classified {start + len(chunk)} of {len(detections)} objects")
    all_probs = np.concatenate(probs)
    grid = classifier.accuracy_grid
    accuracy = (grid.expected_accuracy(extents, snrs) if grid is not None
                else np.full(len(extents), np.nan))
    return [
        replace(d, probs=tuple(float(p) for p in row), label=class_label(row, d.label),
                detector_label=d.label, extent_px=extent, peak_snr=snr,
                morph_accuracy=None if np.isnan(acc) or d.label == "star" else float(acc))
        for d, row, extent, snr, acc in zip(detections, all_probs, extents, snrs, accuracy, strict=True)
    ]


def class_label(probs: Sequence[float], detector_label: str) -> str:
    """The class of one detection: :data:`STAR_CLASS` for the detector's stars, else the most
    probable of ``probs`` (CLASS_NAMES order)."""
    return STAR_CLASS if detector_label == "star" else CLASS_NAMES[int(np.argmax(probs))]


def run(field: Field, render_settings: RenderSettings | None = None,
        settings: RunSettings | None = None, *, detector=None, classifier=None,
        progress: Progress | None = None) -> list[Detection]:
    """Render, detect, classify: the detections of one run, numbered 1..N.

    ``progress(fraction, message)`` is called with the overall fraction done;
    ``detector`` / ``classifier`` default to the shipped models (loaded once).
    """
    settings = settings or RunSettings()
    render_settings = render_settings or default_settings(field)

    def stage(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda f, msg: progress(lo + (hi - lo) * float(f), msg)

    if progress:
        progress(0.0, "Rendering the field")
    rgb = render(field, render_settings)
    detections = detect(field, rgb, settings, detector=detector, progress=stage(0.05, 0.7))
    if settings.classify and (classifier is not None or classifier_available()):
        detections = classify(rgb, detections, classifier=classifier, tta=settings.tta,
                              progress=stage(0.7, 1.0))
    if progress:
        progress(1.0, f"Done: {len(detections)} detections")
    return detections
