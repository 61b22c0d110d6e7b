"""What a detector is: configured once, then called on a field with one settings object.

Both detectors (:class:`~galaxy_core.detection.sep.SepDetector`, the classical
baseline on the pixels, and :class:`~galaxy_core.detection.yolo.YoloDetector`,
the learned one on the rendered picture) follow :class:`Detector`: they take the
field, its rendered picture and a :class:`DetectSettings`, and return the
detections scoring at least the run's floor, best first, numbered 1..N, with
RA/Dec where the field has a WCS.  The floor is decided here
(:func:`score_floor`), without loading a model.

>>> score_floor("yolo", None), score_floor("sep", None), score_floor("sep", 0.2)
(0.25, 0.05, 0.2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Detection, Field

#: progress(fraction done in [0, 1], message) of a long step.
Progress = Callable[[float, str], None]

#: Each method's own score floor, used when a run names none: YOLO's operating point
#: (its confidence threshold), and for sep a score of 0.05 (S/N 0.5; score = S/N / (S/N + 10)).
OPERATING_FLOOR = {"yolo": 0.25, "sep": 0.05}
#: Whether each method reads the rendered picture (else only the field's pixels): a run of a
#: method that does not, without the classifier, does not depend on the stretch.
SEES_RENDER = {"yolo": True, "sep": False}
#: The small-object pass factors (1 = native scale); each fits YOLO's default tile geometry
#: (640 px tiles, 96 px overlap; :func:`galaxy_core.detection.tiling.upsample_fits`).
UPSAMPLE_FACTORS = (1, 1.5, 2, 3)


def as_factor(upsample) -> int | float:
    """``upsample`` as an int when whole (2.0 -> 2, so labels read "2x"), else a float."""
    value = float(upsample)
    return int(value) if value == int(value) else value


@dataclass(frozen=True)
class DetectSettings:
    """What one detection run asks of a detector (each detector reads the fields it knows).

    Attributes:
        min_score: the floor in [0, 1): no detection scoring below it is kept;
            None for the method's own (:data:`OPERATING_FLOOR`).
        upsample: YOLO's small-object pass, one of :data:`UPSAMPLE_FACTORS`.
        flip_tta: YOLO's flip test-time augmentation (about 4x its time).
        sep_thresh_sigma: sep's threshold, in units of the background rms.
        sep_minarea: sep's minimum area, px.
    """

    min_score: float | None = None
    upsample: float = 1
    flip_tta: bool = False
    sep_thresh_sigma: float = 3.0
    sep_minarea: int = 5

    def __post_init__(self) -> None:
        if self.min_score is not None and not 0 <= self.min_score < 1:
            raise GalaxyCoreError("min_score must be in [0, 1).")
        if self.upsample not in UPSAMPLE_FACTORS:
            raise GalaxyCoreError(f"upsample must be one of {UPSAMPLE_FACTORS}.")
        object.__setattr__(self, "upsample", as_factor(self.upsample))  # 2.0 -> 2
        if self.sep_thresh_sigma <= 0 or self.sep_minarea < 1:
            raise GalaxyCoreError("The sep threshold must be > 0 sigma and the area >= 1 px.")


def score_floor(method: str, min_score: float | None) -> float:
    """The score from which a run of ``method`` keeps detections: ``min_score``, else its own."""
    if min_score is not None:
        return float(min_score)
    if method not in OPERATING_FLOOR:
        raise GalaxyCoreError(f"Unknown detection method {method!r}; use yolo or sep.")
    return OPERATING_FLOOR[method]


@runtime_checkable
class Detector(Protocol):
    """A detector: ``detect(field, rgb, settings)`` -> detections (see the module docstring)."""

    #: ``"yolo"`` or ``"sep"``: the method's name in settings, catalogues and provenance.
    method: str
    #: Whether it reads the rendered picture (True) or only the field's pixels (False).
    sees_render: bool

    def detect(self, field: Field, rgb: np.ndarray | None, settings: DetectSettings, *,
               progress: Progress | None = None) -> list[Detection]:
        """Detections scoring >= the settings' floor, best first, numbered 1..N, with RA/Dec."""
        ...


def numbered(detections: Sequence[Detection]) -> list[Detection]:
    """Detections numbered 1..N in their current order (each detector numbers its result once)."""
    return [d.with_(id=i) for i, d in enumerate(detections, start=1)]
