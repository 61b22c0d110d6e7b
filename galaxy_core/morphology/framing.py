"""Scale normalisation shared by classifier training and inference.

Survey cutouts frame galaxies very differently (Galaxy Zoo: 424 px with much
sky; NGC: nearly filled; 64 px star cutouts; crops around detections in HST
fields).  Before a crop reaches the network it is reframed so that the object
fills the same fraction of the input whatever the original framing:

1. :func:`measure_extent` segments the central object (smoothed luminance above
   sky + ``nsigma`` sky noise, the connected component at or nearest the centre)
   and takes the flux-weighted second moments of that segment; the extent is
   ``4 * sqrt(largest eigenvalue)`` px, the 2-sigma major-axis diameter.
2. :func:`frame_crop` cuts a square of side ``extent / fill`` around the
   object's centre (sky-level plus sky-noise padding where it runs off the
   image) and resizes it to ``out_size`` px.

Measured on an already framed crop, the extent is ``fill * out_size`` again, so
framing twice is (to within the segmentation noise) the same as framing once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy import ndimage

from galaxy_core.display.picture import ArrayPicture, Picture, as_rgb_uint8, sky_border_px
from galaxy_core.display.picture import sky_stats as picture_sky_stats
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Detection


@dataclass(frozen=True)
class FramingSettings:
    """How crops are scale-normalised (stored with the classifier weights).

    Attributes:
        fill: the object's extent as a fraction of the output side (0..1).
        nsigma: segmentation threshold above sky, in sky-noise sigmas.
        peak_fraction: the threshold is at least this fraction of the central
            peak above sky (keeps the extent independent of the image's depth).
        smooth_px: Gaussian smoothing sigma before segmentation, px.
        min_side_px: smallest square cut from the source image, px.
        max_shrink: where the square would run off the image, it is first
            shrunk (object kept centred) by up to this factor before padding,
            so nearly filled cutouts are not framed in artificial sky.
    """

    fill: float = 0.6
    max_shrink: float = 1.5
    nsigma: float = 3.0
    peak_fraction: float = 0.1
    smooth_px: float = 1.0
    min_side_px: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.fill <= 1:
            raise GalaxyCoreError(f"Framing fill must be in (0, 1], got {self.fill}.")
        if self.nsigma <= 0 or self.smooth_px < 0 or self.min_side_px < 2:
            raise GalaxyCoreError("Framing needs nsigma > 0, smooth_px >= 0 and min_side_px >= 2.")

    def as_dict(self) -> dict[str, float]:
        return {"fill": self.fill, "nsigma": self.nsigma, "peak_fraction": self.peak_fraction,
                "smooth_px": self.smooth_px, "min_side_px": self.min_side_px,
                "max_shrink": self.max_shrink}


@dataclass(frozen=True)
class Extent:
    """The central object's measured position and size.

    Attributes:
        x, y: flux-weighted centre, px (x = column, y = row).
        extent_px: 4 * sqrt(major second moment), px.
        axis_ratio: sqrt(minor / major second moment), 0..1.
        angle_deg: major-axis angle from the +x axis towards +y, degrees.
        n_pixels: pixels in the segment (0 when nothing was found above sky).
        peak_snr: the central peak of the smoothed luminance above sky over the
            smoothed sky's robust sigma (:func:`sky_ring`); how far the object
            stands out of the noise in the picture the classifier sees.
    """

    x: float
    y: float
    extent_px: float
    axis_ratio: float
    angle_deg: float
    n_pixels: int
    peak_snr: float = float("nan")


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Mean of the three channels, float32 (H, W) (the same values as ``mean(axis=2)``, faster)."""
    return (rgb[..., 0].astype(np.float32) + rgb[..., 1] + rgb[..., 2]) / np.float32(3.0)


def sky_stats(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-channel sky level (median of the outer border, DN) and luminance sky sigma (DN) of an
    RGB or grey image (:func:`galaxy_core.display.picture.sky_stats`)."""
    return picture_sky_stats(as_rgb_uint8(image))


#: Smallest noise :func:`robust_sigma` returns (DN): uint8 rounding noise of the luminance
#: (1/sqrt(12) DN per channel, over sqrt(3) for the mean) after smoothing by 1 px.
QUANTISATION_NOISE = 1.0 / np.sqrt(12.0) / np.sqrt(3.0) / (2.0 * np.sqrt(np.pi))


#: Fewest border pixels left after masking other objects for :func:`sky_ring` to use the mask.
MIN_SKY_SAMPLES = 64


def _border(a: np.ndarray, b: int) -> np.ndarray:
    """The outer ``b``-pixel frame of a 2-D array, flattened."""
    h, w = a.shape
    return np.concatenate([a[:b].ravel(), a[-b:].ravel(), a[b:h - b, :b].ravel(), a[b:h - b, w - b:].ravel()])


def sky_ring(smooth: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Every third pixel of a smoothed image's outer border (:func:`sky_border_px`): its sky.

    Its median is the smoothed image's sky level and its :func:`robust_sigma`
    the smoothed noise, which counts correlated noise (drizzled or resampled
    pictures) in full.  ``exclude`` (bool, same shape) marks other objects'
    pixels, left out so that a crowded border (a star field) does not pass for
    sky, unless fewer than :data:`MIN_SKY_SAMPLES` would remain.
    """
    b = sky_border_px(smooth.shape)
    ring = _border(smooth, b)[::3]
    if exclude is not None:
        sky = ring[~_border(exclude, b)[::3]]
        if sky.size >= MIN_SKY_SAMPLES:
            ring = sky
    return ring


def robust_sigma(values: np.ndarray, median: float | None = None) -> float:
    """1.4826 x the median absolute deviation, at least :data:`QUANTISATION_NOISE` (DN)
    (``median``: the values' median, when already known)."""
    med = np.median(values) if median is None else median
    return max(1.4826 * float(np.median(np.abs(values - med))), QUANTISATION_NOISE)


def measure_extent(image: np.ndarray, *, settings: FramingSettings | None = None,
                   centre_xy: tuple[float, float] | None = None,
                   exclude: np.ndarray | None = None, with_snr: bool = True) -> Extent:
    """The central object's centre and size from a segmentation's second moments.

    Args:
        image: uint8 RGB (H, W, 3) or grey (H, W) crop with the object near
            ``centre_xy`` (default: the image centre).
        settings: segmentation settings (default FramingSettings()).
        centre_xy: where the object is expected, px.
        exclude: bool (H, W), True on pixels that belong to other objects; they
            are never part of the segment (so a neighbour cannot merge in) nor
            of the sky whose noise sets the peak S/N.
        with_snr: measure :attr:`Extent.peak_snr` (about 0.3 ms on a 280 px
            crop); NaN when False.

    Returns:
        An :class:`Extent`; with nothing above sky it is centred on
        ``centre_xy`` with an extent of half the shorter image side.
    """
    s = settings or FramingSettings()
    rgb = as_rgb_uint8(image)
    h, w = rgb.shape[:2]
    cx, cy = centre_xy if centre_xy is not None else ((w - 1) / 2.0, (h - 1) / 2.0)
    level, sigma = sky_stats(rgb)
    lum = luminance(rgb)
    lum -= np.float32(level.mean())
    smooth = ndimage.gaussian_filter(lum, s.smooth_px) if s.smooth_px > 0 else lum
    # The sky of the smoothed image: where a dark render clips the sky noise at 0, the clipped
    # values' mean (what smoothing gives) lies above the raw median; left in, it lets noise
    # join the segment and inflates a faint object's extent up to twice its size.
    ring = sky_ring(smooth, exclude)
    ring_median = np.median(ring)
    smooth -= np.float32(ring_median)
    # Smoothing lowers the noise by about 1 / (2 sqrt(pi) sigma_smooth) per pixel.
    noise = sigma / (2.0 * np.sqrt(np.pi) * s.smooth_px) if s.smooth_px >= 0.5 else sigma
    icx, icy = int(np.clip(round(cx), 0, w - 1)), int(np.clip(round(cy), 0, h - 1))
    r = max(2, int(0.1 * min(h, w)))
    peak = float(smooth[max(icy - r, 0):icy + r + 1, max(icx - r, 0):icx + r + 1].max())
    snr = peak / robust_sigma(ring, ring_median) if with_snr else float("nan")
    mask = smooth > max(s.nsigma * noise, s.peak_fraction * peak, 1.0)
    if exclude is not None:
        mask &= ~exclude
    labels, n = ndimage.label(mask)
    fallback = Extent(float(cx), float(cy), 0.5 * min(h, w), 1.0, 0.0, 0, snr)
    if n == 0:
        return fallback
    target = labels[icy, icx] or _nearest_label(labels, icy, icx, 0.25 * min(h, w))
    if target == 0:
        return fallback
    box = ndimage.find_objects(labels, max_label=target)[target - 1]  # scan only the segment's box
    ys, xs = np.nonzero(labels[box] == target)
    ys, xs = ys + box[0].start, xs + box[1].start
    wts = np.clip(smooth[ys, xs], 1e-3, None).astype(np.float64)
    tot = wts.sum()
    mx, my = float((wts * xs).sum() / tot), float((wts * ys).sum() / tot)
    dx, dy = xs - mx, ys - my
    cxx, cyy, cxy = (wts * dx * dx).sum() / tot, (wts * dy * dy).sum() / tot, (wts * dx * dy).sum() / tot
    evals, evecs = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    major, minor = max(float(evals[1]), 0.25), max(float(evals[0]), 0.25)
    angle = float(np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1])))
    return Extent(mx, my, 4.0 * np.sqrt(major), float(np.sqrt(minor / major)), angle, int(len(xs)), snr)


def _nearest_label(labels: np.ndarray, iy: int, ix: int, reach: float) -> int:
    """The label of the segment pixel nearest to (``iy``, ``ix``), 0 when none lies within
    ``reach`` px: what a Euclidean distance transform of the whole image gives there, found
    among the pixels of the square that can be within reach (the transform itself only where
    pixels of two segments tie for nearest, where its own choice decides)."""
    r = int(np.floor(reach))
    y0, x0 = max(iy - r, 0), max(ix - r, 0)
    ys, xs = np.nonzero(labels[y0:iy + r + 1, x0:ix + r + 1])
    d2 = (ys + (y0 - iy)) ** 2 + (xs + (x0 - ix)) ** 2
    if len(d2) == 0 or np.sqrt(float(d2.min())) > reach:
        return 0
    at = d2 == d2.min()
    nearest = np.unique(labels[ys[at] + y0, xs[at] + x0])
    if len(nearest) == 1:
        return int(nearest[0])
    _, (ny, nx) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return int(labels[ny[iy, ix], nx[iy, ix]])


def square_corner(centre_xy: tuple[float, float], side: float) -> tuple[int, int]:
    """Field (column, row) of the first pixel of a square of ``side`` px centred on ``centre_xy``."""
    return (int(np.floor(centre_xy[0] + 0.5 - side / 2.0)), int(np.floor(centre_xy[1] + 0.5 - side / 2.0)))


def frame_crop(image: np.ndarray | Picture, centre_xy: tuple[float, float], extent_px: float,
               out_size: int, *, settings: FramingSettings | None = None, seed: int = 0) -> np.ndarray:
    """A square uint8 (out_size, out_size, 3) crop in which the object spans ``fill`` of the side.

    Args:
        image: uint8 RGB (H, W, 3) or grey (H, W), or a rendered field
            (:class:`~galaxy_core.display.picture.Picture`, whose border sky is kept).
        centre_xy: the object's centre (x = column, y = row), px.
        extent_px: the object's size from :func:`measure_extent`, px.
        out_size: output side, px.
        settings: framing settings (fill, minimum cut side).
        seed: seed of the sky noise drawn into padding beyond the image edge.
    """
    s = settings or FramingSettings()
    if out_size < 4:
        raise GalaxyCoreError(f"The framed crop must be at least 4 px, got {out_size}.")
    pic = image if isinstance(image, Picture) else ArrayPicture(as_rgb_uint8(image))
    h, w = pic.height, pic.width
    side = max(float(extent_px) / s.fill, s.min_side_px)
    cx, cy = centre_xy
    room = 2.0 * min(cx + 0.5, w - 0.5 - cx, cy + 0.5, h - 0.5 - cy)
    if room < side:
        side = max(room, side / s.max_shrink, s.min_side_px)
    x0, y0 = square_corner(centre_xy, side)
    n = int(round(side))
    x1, y1 = x0 + n, y0 + n
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        cut = _sky_padded(pic, x0, y0, n, seed)
    else:
        cut = np.ascontiguousarray(pic.region(y0, y1, x0, x1))
    resample = Image.Resampling.BOX if n > out_size else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(cut).resize((out_size, out_size), resample=resample))


def _sky_padded(pic: Picture, x0: int, y0: int, n: int, seed: int) -> np.ndarray:
    """The n x n square from field (column, row) ``(x0, y0)``: the picture where it lies inside,
    sky (the picture's edge level plus its noise, seeded) beyond it.

    The noise is drawn for the whole square, so every sky pixel has the value it would have
    with the picture left out; only the pixels it shows are turned into uint8.
    """
    level, sigma = pic.edge_sky()
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=(n, n, 1))
    canvas = np.empty((n, n, 3), np.uint8)
    # the part of the square inside the picture, in square px (empty when it lies outside)
    ty0, tx0 = min(max(-y0, 0), n), min(max(-x0, 0), n)
    ty1, tx1 = max(min(pic.height - y0, n), ty0), max(min(pic.width - x0, n), tx0)
    sky_parts = [(slice(0, ty0), slice(0, n)), (slice(ty1, n), slice(0, n)),
                 (slice(ty0, ty1), slice(0, tx0)), (slice(ty0, ty1), slice(tx1, n))]
    for rows, cols in sky_parts:
        canvas[rows, cols] = np.clip(np.round(level[None, None, :] + noise[rows, cols]), 0, 255)
    if ty1 > ty0 and tx1 > tx0:
        canvas[ty0:ty1, tx0:tx1] = pic.region(y0 + ty0, y0 + ty1, x0 + tx0, x0 + tx1)
    return canvas


def normalise_scale(image: np.ndarray, out_size: int, *, settings: FramingSettings | None = None,
                    centre_xy: tuple[float, float] | None = None) -> np.ndarray:
    """Measure the central object and frame it: uint8 (out_size, out_size, 3)."""
    ext = measure_extent(image, settings=settings, centre_xy=centre_xy, with_snr=False)
    return frame_crop(image, (ext.x, ext.y), ext.extent_px, out_size, settings=settings)


def crop_for_detection(rgb_field: np.ndarray | Picture, detection: Detection, out_size: int, *,
                       settings: FramingSettings | None = None, context: float = 3.0,
                       others: np.ndarray | None = None) -> np.ndarray:
    """The scale-normalised crop of one detected object in a rendered field (see :func:`frame_detection`)."""
    return frame_detection(rgb_field, detection, out_size, settings=settings, context=context,
                           others=others)[0]


def detection_boxes(detections) -> np.ndarray:
    """float (N, 4) array of the detections' boxes: x_min, y_min, x_max, y_max (field px)."""
    return np.array([(d.x_min, d.y_min, d.x_max, d.y_max) for d in detections], dtype=float).reshape(-1, 4)


def others_mask(boxes: np.ndarray, own: tuple[float, float, float, float], origin: tuple[int, int],
                shape: tuple[int, int]) -> np.ndarray:
    """bool (H, W) over a window: True inside other objects' boxes and outside ``own``.

    Args:
        boxes: (M, 4) boxes x_min, y_min, x_max, y_max in field px (pixel i
            spans i - 0.5 .. i + 0.5; a pixel belongs to a box when its centre
            lies inside); a box equal to ``own`` is skipped.
        own: the object's own box, same convention.
        origin: field (column, row) of the window's pixel (0, 0).
        shape: the window's (rows, columns).
    """
    h, w = shape
    out = np.zeros((h, w), dtype=bool)
    if len(boxes) == 0:
        return out
    b = np.vstack([np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(own, dtype=float)])
    b -= np.array([origin[0], origin[1], origin[0], origin[1]])
    # First and one-past-last pixel whose centre lies inside each box (the last row is ``own``),
    # clipped at the window's start.
    c0, r0 = np.maximum(np.ceil(b[:, 0]), 0).astype(int), np.maximum(np.ceil(b[:, 1]), 0).astype(int)
    c1 = np.maximum(np.floor(b[:, 2]) + 1, 0).astype(int)
    r1 = np.maximum(np.floor(b[:, 3]) + 1, 0).astype(int)
    same = np.all(np.abs(b - b[-1]) < 1e-6, axis=1)  # own box (and the last row itself)
    for i in np.flatnonzero(~same & (c1 > 0) & (r1 > 0) & (c0 < w) & (r0 < h)):
        out[r0[i]:r1[i], c0[i]:c1[i]] = True
    out[r0[-1]:r1[-1], c0[-1]:c1[-1]] = False
    return out


class FramedDetection(NamedTuple):
    """One detection as the classifier sees it.

    Attributes:
        crop: uint8 (out_size, out_size, 3), the object spanning ``fill`` of the side.
        extent_px: the object's size in field px (:attr:`Extent.extent_px`,
            capped at twice the box; the box's longer side when nothing was segmented).
        peak_snr: its smoothed peak's S/N in the rendered field (:attr:`Extent.peak_snr`).
    """

    crop: np.ndarray
    extent_px: float
    peak_snr: float


def context_side(detection: Detection, context: float = 3.0) -> float:
    """Side (px) of the square :func:`frame_detection` cuts around a detection."""
    return max(context * max(detection.width, detection.height), 16.0)


def context_boxes(detections, context: float = 3.0) -> np.ndarray:
    """(N, 4) the squares :func:`frame_detection` cuts around each detection, field px, one
    pixel wider all round (so every box that can touch one of its pixels overlaps it)."""
    half = np.array([context_side(d, context) / 2.0 + 1.0 for d in detections], dtype=float)
    xy = np.array([(d.x, d.y) for d in detections], dtype=float).reshape(-1, 2)
    return np.c_[xy - half[:, None], xy + half[:, None]]


def frame_detection(rgb_field: np.ndarray | Picture, detection: Detection, out_size: int, *,
                    settings: FramingSettings | None = None, context: float = 3.0,
                    others: np.ndarray | None = None) -> FramedDetection:
    """The crop, extent (field px) and peak S/N of one detected object.

    A square of ``context`` times the box's longer side (at least 16 px) is cut
    around the detection's centre (sky-padded at the field's edges), the
    object's extent is measured in it and it is framed as in training.

    Args:
        rgb_field: the rendered field, uint8 (H, W, 3), or a
            :class:`~galaxy_core.display.picture.Picture` of it (pass the same one for
            every detection of a field: its border sky is measured once).
        detection: the object (box edges and centre in field pixels).
        out_size: output side, px.
        settings: framing settings (use the classifier's).
        context: cut side as a multiple of the box's longer side.
        others: (M, 4) boxes of the field's other detections (:func:`detection_boxes`;
            the object's own box may be among them).  Pixels inside them and
            outside the object's own box are left out of its segment, so a
            detected neighbour does not inflate its extent or move its centre.
    """
    side = context_side(detection, context)
    half = side / 2.0
    window = frame_crop(rgb_field, (detection.x, detection.y), side * 1.0,
                        int(round(side)),
                        settings=FramingSettings(fill=1.0, min_side_px=2.0, max_shrink=1.0))
    centre = (half - 0.5, half - 0.5)
    exclude = None
    if others is not None and len(others):
        exclude = others_mask(others, (detection.x_min, detection.y_min, detection.x_max, detection.y_max),
                              square_corner((detection.x, detection.y), side), window.shape[:2])
    ext = measure_extent(window, settings=settings, centre_xy=centre, exclude=exclude)
    box_extent = max(detection.width, detection.height)
    # A segment that leaks far beyond the detector's box (a neighbour merged in)
    # is capped at twice the box; a missed one falls back to the box.
    extent = box_extent if ext.n_pixels == 0 else min(ext.extent_px, 2.0 * box_extent)
    crop = frame_crop(window, (ext.x, ext.y) if ext.n_pixels else centre, extent, out_size,
                      settings=settings)
    return FramedDetection(crop, float(extent), float(ext.peak_snr))
