"""Frozen dataclasses that flow between the project's modules.

Coordinates: ``x`` is the column and ``y`` the row of the numpy array, 0-based,
with pixel centres at integers (the numpy / astropy / sep / photutils
convention).  A box ``(x_min, y_min, x_max, y_max)`` gives its edges in the same
pixel units.  DS9 and FITS use 1-based pixels; the exporters add 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # annotation only: training on a machine without astropy imports this module too
    from astropy.wcs import WCS

#: The classifier's classes, in the seed project's label order 0..5.
CLASS_NAMES: tuple[str, ...] = (
    "Spiral",
    "Spiral_Barred",
    "Elliptical",
    "On_Edge",
    "Irregular",
    "Star/Artifact",
)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
#: The class a detection gets when the detector calls it a star: bright Hubble stars have
#: diffraction spikes the classifier never saw, and it calls most of them galaxies, where
#: YOLO's star label is right 0.92 of the time (bench/bench_star_labels.py).
STAR_CLASS = "Star/Artifact"


@dataclass(frozen=True, eq=False)
class Field:
    """An image of the sky, one band or three.

    Attributes:
        data: float32 array of shape ``(n_bands, height, width)``, ``n_bands`` 1
            or 3 (R, G, B order).  Masked pixels (NaN/inf or blanks in the file)
            are NaN.  FITS pixels are in the file's units; a picture's pixels are
            in [0, 1].
        wcs: the celestial WCS (2-D), or None when the file has no valid one.
        header: the header cards as text (key -> value string), for display.
        name: a short name for titles and exports (file name without suffix).
        kind: ``"fits"`` for physical pixel values, ``"picture"`` for an
            already-rendered colour or grey picture (PNG, JPEG, TIFF).
        band_names: one name per band (filter or file name).
    """

    data: np.ndarray
    wcs: WCS | None = None
    header: Mapping[str, str] = field(default_factory=dict)
    name: str = "field"
    kind: Literal["fits", "picture"] = "fits"
    band_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.data.ndim != 3 or self.data.shape[0] not in (1, 3):
            raise ValueError(f"Field.data must be (1 or 3, H, W), got {self.data.shape}")
        if self.data.dtype != np.float32:
            raise ValueError(f"Field.data must be float32, got {self.data.dtype}")

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def n_bands(self) -> int:
        return int(self.data.shape[0])

    @property
    def mask(self) -> np.ndarray:
        """True where a pixel is masked (not finite), shape ``(n_bands, H, W)``."""
        return ~np.isfinite(self.data)

    def luminance(self) -> np.ndarray:
        """One (H, W) float32 band for detection: the band itself, or the mean of three."""
        if self.n_bands == 1:
            return self.data[0]
        with np.errstate(invalid="ignore"):
            return np.nanmean(self.data, axis=0).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
        id: 1-based running number within its catalogue.
        x_min, y_min, x_max, y_max: box edges in pixels (see module docstring).
        x, y: the object's centre in pixels (barycentre for sep, box centre for YOLO).
        score: detection confidence in [0, 1] (sep: a monotone map of S/N).
        label: class name (one of CLASS_NAMES once classified), else the
            detector's own label (``"galaxy"``, ``"star"`` or ``"object"``).
        probs: the six class probabilities in CLASS_NAMES order, or None.
        ra, dec: sky position of (x, y) in degrees (ICRS), or None without WCS.
        snr: signal-to-noise ratio where the detector measures one, else None.
        extent_px: the object's size as the classifier's framing measured it
            (4 x the rms radius along its segment's major axis, px), or None
            when unclassified; see :mod:`galaxy_core.morphology.reliability`.
        peak_snr: how far the object stands out of the noise in the rendered
            picture the classifier saw (its 1 px-smoothed luminance peak over
            the smoothed sky's noise, :attr:`galaxy_core.morphology.framing.Extent.peak_snr`),
            or None when unclassified.
        morph_accuracy: the share of validation galaxies of this measured
            extent and peak S/N that the classifier got right
            (:class:`galaxy_core.morphology.reliability.AccuracyGrid`), or None where
            not measured.
        morph_reliable: whether the class can be trusted by the classifier's own
            :class:`~galaxy_core.morphology.reliability.ReliabilityRule` (large
            and bright enough), or None when unclassified.
        class_precision: the network that gave the probabilities: ``"float32"``, or
            ``"int8"`` (the quantised one, :mod:`galaxy_core.morphology.int8`, for objects
            too small to be trusted); None when unclassified.
        detector_label: the detector's own label (``"galaxy"``, ``"star"`` or
            ``"object"``) once ``label`` holds a class, else None.
    """

    id: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    x: float
    y: float
    score: float
    label: str = "object"
    probs: tuple[float, ...] | None = None
    ra: float | None = None
    dec: float | None = None
    snr: float | None = None
    extent_px: float | None = None
    peak_snr: float | None = None
    morph_accuracy: float | None = None
    detector_label: str | None = None
    morph_reliable: bool | None = None
    class_precision: str | None = None

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min

    def with_(self, **changes) -> Detection:
        """A copy with some fields changed (dataclasses.replace)."""
        return replace(self, **changes)
