"""The classical baseline: sep (SExtractor as a library) on a field's pixels.

Background estimated on a mesh and subtracted, objects thresholded at
``thresh_sigma`` times the background rms over at least ``minarea`` connected
pixels after a 3x3 matched filter, then deblended.  Each object's box is the
axis-aligned bounding box of its ellipse scaled by ``ellipse_scale`` (the
ellipse's ``a, b`` are the rms extents along its axes, in pixels), and never
smaller than the object's own pixel footprint.

Score: ``snr / (snr + 10)``, a monotone map of the isophotal signal-to-noise
``snr = flux / (rms * sqrt(npix))`` to [0, 1) (0.5 at S/N 10), so the app's
confidence slider works the same way for sep and for a learned detector.

>>> import numpy as np
>>> from galaxy_core.types import Field
>>> rng = np.random.default_rng(1)
>>> img = rng.normal(0, 1, (64, 64)).astype(np.float32)
>>> img[30:34, 30:34] += 50
>>> [round(d.x) for d in SepDetector()(Field(img[None]))]
[31]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import sep

from galaxy_core.detection.base import SEES_RENDER, DetectSettings, Progress, numbered, score_floor
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.mosaic import LazyField, is_lazy
from galaxy_core.sky import with_sky
from galaxy_core.types import Detection, Field

#: Rows by which the strips of a field read window by window overlap (px): objects up to this
#: long lie whole in the strip that keeps them.
STRIP_OVERLAP = 256
#: Pixels of a strip of such a field, at most.
STRIP_PIXELS = 32_000_000
#: How far (px) two strips' centres of one object on their seam may differ.
SEAM_PX = 4.0


@dataclass(frozen=True)
class SepDetector:
    """Configure once, then call on a field: ``SepDetector(thresh_sigma=3)(field)``.

    Attributes:
        thresh_sigma: detection threshold in units of the global background rms.
        minarea: minimum number of connected pixels above threshold.
        deblend_nthresh, deblend_cont: SExtractor's deblending levels and
            minimum contrast (0.005 is SExtractor's default; 1.0 turns it off).
        mesh: background mesh size in pixels; filter_size: median filter of the mesh (cells).
        ellipse_scale: box half-size in units of the ellipse's rms axes.
        max_objects: a refusal threshold, so noise thresholded too low cannot
            flood the app with millions of boxes.
        min_score: detections scoring below this are dropped (score: :func:`snr_to_score`).
    """

    thresh_sigma: float = 3.0
    minarea: int = 5
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    mesh: int = 64
    filter_size: int = 3
    ellipse_scale: float = 3.0
    max_objects: int = 20_000
    min_score: float = 0.0

    method = "sep"
    sees_render = SEES_RENDER["sep"]

    def detect(self, field: Field, rgb: np.ndarray | None, settings: DetectSettings, *,
               progress: Progress | None = None) -> list[Detection]:
        """The :class:`~galaxy_core.detection.base.Detector` call: the settings' threshold and
        area, detections scoring below the run's floor dropped (``rgb`` is not used)."""
        configured = replace(self, thresh_sigma=settings.sep_thresh_sigma, minarea=settings.sep_minarea,
                             min_score=score_floor(self.method, settings.min_score))
        return configured(field, progress=progress)

    def __call__(self, field: Field | LazyField, *, progress: Progress | None = None) -> list[Detection]:
        """Detections in ``field`` (luminance of three bands), with RA/Dec when it has a WCS.

        A :class:`~galaxy_core.io.mosaic.LazyField` is read in strips of rows that overlap
        by :data:`STRIP_OVERLAP` px; each strip keeps the objects whose centre lies in its
        own rows, so none is found twice (each strip measures its own background).
        """
        if progress:
            progress(0.0, "Estimating the background")
        if is_lazy(field):
            objects, snr = self._strips(field, progress)
        else:
            objects, snr = self._objects(field.luminance())
        if progress:
            progress(1.0, f"sep found {len(objects)} objects")
        detections = self.to_detections(objects, snr, (field.height, field.width))
        return with_sky(detections, field.wcs)

    def _objects(self, luminance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sep's objects in one band and each one's isophotal S/N."""
        data = np.ascontiguousarray(luminance, dtype=np.float32)
        mask = ~np.isfinite(data)
        if mask.all():
            raise GalaxyCoreError("The field has no finite pixels, so there is nothing to detect.")
        try:
            objects, rms = self.extract(data, mask)
        except GalaxyCoreError:
            raise
        except Exception as err:  # sep raises plain Exceptions with C error text
            raise GalaxyCoreError(f"Source extraction failed on this field: {err}") from err
        return objects, objects["flux"] / (rms * np.sqrt(np.maximum(objects["npix"], 1)))

    def _strips(self, field: LazyField, progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
        """Objects and S/N of a lazy field, strip by strip (field row coordinates)."""
        layout = strip_layout(field.height, field.width)
        found = []
        for k, strip in enumerate(layout):
            found.append(self.strip_objects(field, strip))
            if progress:
                progress((k + 1) / len(layout), f"sep: strip {k + 1} of {len(layout)}")
        return join_strips(found)

    def strip_objects(self, field: LazyField, strip: Strip) -> tuple[np.ndarray, np.ndarray] | None:
        """The objects (field rows) and S/N of one strip, those centred in its own rows give or
        take :data:`SEAM_PX`; None for a strip of blank pixels."""
        lo, hi, own_lo, own_hi = strip.lo, strip.hi, strip.own_lo - SEAM_PX, strip.own_hi + SEAM_PX
        strip = field.rows(lo, hi)
        luminance = strip[0] if len(strip) == 1 else np.nanmean(strip, axis=0)
        try:
            objects, snr = self._objects(luminance)
        except GalaxyCoreError:
            if np.isfinite(luminance).any():
                raise
            return None  # a strip of blank pixels (a mosaic's edge) holds nothing
        objects = objects.copy()
        for key in ("y", "ymin", "ymax"):
            objects[key] += lo
        own = (objects["y"] >= own_lo - 0.5) & (objects["y"] < own_hi - 0.5)
        return objects[own], snr[own]

    def extract(self, data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
        """sep's object array and the global background rms for one band."""
        filled = np.where(mask, np.float32(0), data)
        if not np.max(data[~mask]) > np.min(data[~mask]):
            raise GalaxyCoreError(
                "The field is constant (every pixel has the same value): it has no noise, so sep "
                "cannot set a threshold in units of sigma, and no objects."
            )
        mesh = int(max(8, min(self.mesh, min(data.shape))))
        bkg = sep.Background(filled, mask=mask, bw=mesh, bh=mesh, fw=self.filter_size,
                             fh=self.filter_size)
        rms = float(bkg.globalrms)
        if not np.isfinite(rms) or rms <= 0:
            raise GalaxyCoreError(
                "The field's background has no noise (a constant or synthetic image without sky): "
                "sep cannot set a threshold in units of sigma."
            )
        sub = filled - bkg.back()
        sub[mask] = 0.0
        sep.set_extract_pixstack(max(300_000, data.size // 4))
        sep.set_sub_object_limit(4096)
        objects = sep.extract(
            sub, self.thresh_sigma, err=rms, mask=mask, minarea=self.minarea,
            deblend_nthresh=self.deblend_nthresh, deblend_cont=self.deblend_cont,
        )
        if len(objects) > self.max_objects:
            raise GalaxyCoreError(
                f"sep found {len(objects)} objects, more than {self.max_objects}: the threshold "
                f"({self.thresh_sigma} sigma) is too low for this field."
            )
        return objects, rms

    def to_detections(self, objects: np.ndarray, snr: np.ndarray, shape: tuple[int, int]) -> list[Detection]:
        """sep's structured array (and each object's S/N) as the project's detections, brightest first."""
        height, width = shape
        a = objects["a"] * self.ellipse_scale
        b = objects["b"] * self.ellipse_scale
        cos, sin = np.cos(objects["theta"]), np.sin(objects["theta"])
        half_w = np.sqrt((a * cos) ** 2 + (b * sin) ** 2)
        half_h = np.sqrt((a * sin) ** 2 + (b * cos) ** 2)
        x_min = np.minimum(objects["x"] - half_w, objects["xmin"] - 0.5).clip(-0.5, width - 0.5)
        x_max = np.maximum(objects["x"] + half_w, objects["xmax"] + 0.5).clip(-0.5, width - 0.5)
        y_min = np.minimum(objects["y"] - half_h, objects["ymin"] - 0.5).clip(-0.5, height - 0.5)
        y_max = np.maximum(objects["y"] + half_h, objects["ymax"] + 0.5).clip(-0.5, height - 0.5)
        score = snr_to_score(snr)
        order = [i for i in np.argsort(-snr) if float(score[i]) >= self.min_score]
        detections = [
            Detection(
                id=0, x_min=float(x_min[i]), y_min=float(y_min[i]), x_max=float(x_max[i]),
                y_max=float(y_max[i]), x=float(objects["x"][i]), y=float(objects["y"][i]),
                score=float(score[i]), label="object", snr=float(snr[i]),
            )
            for i in order
        ]
        return numbered(detections)


@dataclass(frozen=True)
class Strip:
    """Rows ``lo:hi`` of a field, read to find the objects centred in its own rows ``own_lo:own_hi``."""

    lo: int
    hi: int
    own_lo: int
    own_hi: int


def strip_layout(height: int, width: int) -> list[Strip]:
    """The strips sep reads a field of ``height`` x ``width`` px in (:data:`STRIP_PIXELS` each,
    overlapping by :data:`STRIP_OVERLAP` rows; their own rows partition the field)."""
    rows = max(4 * STRIP_OVERLAP, STRIP_PIXELS // max(width, 1))
    return [Strip(max(0, y0 - STRIP_OVERLAP), min(height, y0 + rows + STRIP_OVERLAP), y0,
                  min(height, y0 + rows)) for y0 in range(0, height, rows)]


def join_strips(found: list[tuple[np.ndarray, np.ndarray] | None]) -> tuple[np.ndarray, np.ndarray]:
    """The strips' objects and S/N in one array each, in strip order.

    Two strips measure an object on their seam a little differently, so both may
    keep it; the later strip's copy (within :data:`SEAM_PX`) is dropped.
    """
    objects, snrs = [], []
    for kept in found:
        if kept is None:
            continue
        if objects:
            kept = _without_seam_copies(objects[-1], *kept)
        objects.append(kept[0])
        snrs.append(kept[1])
    if not objects:
        raise GalaxyCoreError("The field has no finite pixels, so there is nothing to detect.")
    return np.concatenate(objects), np.concatenate(snrs)


def _without_seam_copies(before: np.ndarray, objects: np.ndarray,
                         snr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``objects`` (and their S/N) less those within :data:`SEAM_PX` of one in ``before``."""
    if len(before) == 0 or len(objects) == 0:
        return objects, snr
    near = before[before["y"] >= objects["y"].min() - SEAM_PX]
    if len(near) == 0:
        return objects, snr
    dx = objects["x"][:, None] - near["x"][None, :]
    dy = objects["y"][:, None] - near["y"][None, :]
    copy = (np.hypot(dx, dy) < SEAM_PX).any(axis=1)
    return objects[~copy], snr[~copy]


def snr_to_score(snr: float | np.ndarray) -> float | np.ndarray:
    """Map S/N to [0, 1): ``snr / (snr + 10)``; negative S/N gives 0."""
    s = np.maximum(snr, 0.0)
    return s / (s + 10.0)
