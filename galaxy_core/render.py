"""FITS pixels to an RGB picture, on top of ``astropy.visualization``.

An *interval* picks the pixel values that map to black and white; a *stretch*
maps [0, 1] to [0, 1] non-linearly (both are astropy's objects).  One band
becomes grey or goes through a matplotlib colormap; three bands go through the
``make_rgb`` scheme (limits measured per band, the same stretch on each) or
``make_lupton_rgb`` (Lupton et al. 2004 asinh colour-preserving scaling with
Q, stretch, minimum; called as is).

Speed: ``render`` evaluates the astropy stretch once on a LUT_SIZE-point grid
of [0, 1] and looks every pixel up in it (uint8 out), instead of running it on
each float pixel as ``astropy.visualization.make_rgb`` does in float64.  The
result equals ``make_rgb`` / ``normalise_band`` within one grey level (they
truncate, this rounds), except for a power stretch with exponent < 1 in the
first 4e-6 of the range above black, where its slope is infinite.

Masked pixels (NaN in the field: NaN/inf/BLANK in the file, fully transparent in
a picture) are rendered black (0, 0, 0) in every mode, and a pixel masked in any
of three bands is black in the picture.  A band with no finite pixel at all is
an error (there is nothing to show).  A constant band renders as one flat grey.

Interval limits are measured on at most ``INTERVAL_SAMPLE`` pixels of a band
(a fixed stride, so a render is the same every time).  ``default_settings``
fits the asinh ``a`` to each FITS field's sky noise; pictures
(``Field.kind == "picture"``) open with ``PICTURE_SETTINGS`` (manual 0..1,
linear), i.e. the picture as it is.

For interactive tuning, downsample once and re-render the small field on every
change (``render_preview`` does both; the app caches ``downsample``'s result).

>>> import numpy as np
>>> from galaxy_core.types import Field
>>> f = Field(np.random.default_rng(0).normal(size=(1, 8, 8)).astype(np.float32))
>>> render(f, RenderSettings()).shape
(8, 8, 3)
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, replace

import numpy as np
from astropy import visualization as vis
from astropy.stats import sigma_clipped_stats

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field

INTERVALS = ("percentile", "asym_percentile", "minmax", "zscale", "manual")
STRETCHES = ("linear", "sqrt", "log", "asinh", "sinh", "power", "histeq")
RGB_METHODS = ("bands", "lupton")

#: The stretch parameter ``a`` used when RenderSettings.a is None, per stretch.
DEFAULT_A = {"asinh": 0.02, "log": 1000.0, "sinh": 1.0 / 3.0, "power": 0.3}

#: Output level (fraction of white) that sky + 1 sigma is mapped to by default_settings.
NOISE_LEVEL = 0.10

#: Largest number of pixels an interval is measured on (a fixed-stride subsample beyond).
INTERVAL_SAMPLE = 500_000
#: Number of quantiles of a band's CDF the histogram-equalisation stretch interpolates.
_HISTEQ_POINTS = 4096
#: Size of the look-up table ``render`` evaluates the stretch on (input steps of 4e-6:
#: well below one output level even where log's slope is steepest).
LUT_SIZE = 2**18


@dataclass(frozen=True)
class RenderSettings:
    """How pixel values become an RGB picture.

    Attributes:
        interval: one of INTERVALS.
        percent: central percentage kept by ``"percentile"`` (e.g. 99.5).
        lower_percent, upper_percent: limits of ``"asym_percentile"`` (0..100).
        vmin, vmax: limits of ``"manual"``, in pixel units.
        stretch: one of STRETCHES.
        a: the stretch's parameter (asinh/sinh/log ``a``, power exponent), > 0;
            None for the stretch's default (DEFAULT_A).  Ignored by linear,
            sqrt and histeq.
        colormap: matplotlib colormap name for one band (``"gray"`` for grey).
        rgb_method: ``"bands"`` (make_rgb) or ``"lupton"`` (make_lupton_rgb) for three bands.
        lupton_q, lupton_stretch, lupton_minimum: make_lupton_rgb's Q, stretch
            (pixel units) and minimum (pixel units); None means "from the data":
            minimum = the lowest band's ``lower_percent`` percentile, stretch = the
            largest band span up to its ``upper_percent`` percentile.
    """

    interval: str = "asym_percentile"
    percent: float = 99.5
    lower_percent: float = 20.0
    upper_percent: float = 99.95
    vmin: float | None = None
    vmax: float | None = None
    stretch: str = "asinh"
    a: float | None = None
    colormap: str = "gray"
    rgb_method: str = "bands"
    lupton_q: float = 8.0
    lupton_stretch: float | None = None
    lupton_minimum: float | None = None

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise GalaxyCoreError(f"Unknown interval {self.interval!r}; choose one of {INTERVALS}.")
        if self.stretch not in STRETCHES:
            raise GalaxyCoreError(f"Unknown stretch {self.stretch!r}; choose one of {STRETCHES}.")
        if self.rgb_method not in RGB_METHODS:
            raise GalaxyCoreError(f"Unknown RGB method {self.rgb_method!r}; choose one of {RGB_METHODS}.")
        if self.interval == "manual":
            if self.vmin is None or self.vmax is None:
                raise GalaxyCoreError("A manual interval needs both vmin and vmax.")
            if not (np.isfinite(self.vmin) and np.isfinite(self.vmax) and self.vmin < self.vmax):
                raise GalaxyCoreError(
                    f"A manual interval needs finite vmin < vmax (got {self.vmin}, {self.vmax})."
                )
        if not 0 < self.percent <= 100:
            raise GalaxyCoreError(f"The percentile must be in (0, 100] (got {self.percent}).")
        if not 0 <= self.lower_percent < self.upper_percent <= 100:
            raise GalaxyCoreError(
                "Percentiles must satisfy 0 <= lower < upper <= 100 "
                f"(got {self.lower_percent}, {self.upper_percent})."
            )
        if self.a is not None and not (np.isfinite(self.a) and self.a > 0):
            raise GalaxyCoreError(f"The stretch parameter a must be > 0 (got {self.a}).")
        if not (np.isfinite(self.lupton_q) and self.lupton_q >= 0):
            raise GalaxyCoreError(f"Lupton Q must be >= 0 (got {self.lupton_q}).")
        if self.lupton_stretch is not None and not self.lupton_stretch > 0:
            raise GalaxyCoreError(f"Lupton stretch must be > 0 (got {self.lupton_stretch}).")

    @property
    def stretch_a(self) -> float:
        """The stretch parameter in effect (``a`` or the stretch's default)."""
        return self.a if self.a is not None else DEFAULT_A.get(self.stretch, 1.0)

    def with_(self, **changes) -> RenderSettings:
        """A copy with some fields changed (validated again).

        Changing the stretch without giving ``a`` resets ``a`` to None (the new
        stretch's default): an asinh ``a`` means nothing to log or power.
        """
        if changes.get("stretch", self.stretch) != self.stretch and "a" not in changes:
            changes["a"] = None
        return replace(self, **changes)


#: What a colour or grey picture (PNG/JPEG/TIFF) is rendered with by default: as it is.
PICTURE_SETTINGS = RenderSettings(interval="manual", vmin=0.0, vmax=1.0, stretch="linear")


def default_settings(field: Field) -> RenderSettings:
    """The settings a field opens with.

    Pictures: PICTURE_SETTINGS (as they are).  FITS: RenderSettings()'s
    asymmetric percentile interval and asinh stretch, with the asinh ``a`` (and
    Lupton's Q) fitted to the field so that sky + 1 sigma of noise comes out at
    NOISE_LEVEL of full scale in every band (faint noise, the faintest galaxies
    visible), whether the field is mostly empty sky or a cutout filled by a
    bright galaxy (sky and sigma from ``sky_level``).
    """
    if field.kind == "picture":
        return PICTURE_SETTINGS
    cached = _DEFAULTS_CACHE.get(field)
    if cached is None:
        cached = _DEFAULTS_CACHE[field] = _fitted_defaults(field)
    return cached


#: Fitted defaults per Field object (weak keys: a field's entry goes when the field does).
_DEFAULTS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _fitted_defaults(field: Field) -> RenderSettings:
    base = RenderSettings()
    fitted = [_fit_asinh_a(band, base) for band in field.data]
    fitted = [a for a in fitted if a is not None] or [DEFAULT_A["asinh"]]
    a = float(max(fitted))  # the least aggressive: no band's noise above NOISE_LEVEL
    return base.with_(a=round(a, 2 - int(np.floor(np.log10(a)))),
                      lupton_q=round(lupton_q_matching(a), 2))


def lupton_q_matching(a: float) -> float:
    """Lupton Q whose curve (white at the interval's top) matches an asinh stretch ``a``.

    With ``lupton_stretch`` from the data (see RenderSettings), Lupton's
    asinh(Q x / stretch) * 0.1 / asinh(0.1 Q) equals asinh(x / a) / asinh(1 / a)
    on [0, 1] when Q = 10 sinh(asinh(1 / a) / 10).
    """
    return float(10.0 * np.sinh(np.arcsinh(1.0 / a) / 10.0))


def sky_level(values: np.ndarray) -> tuple[float, float]:
    """(sky, sigma) of finite pixel values: median and MAD-sigma after 3-sigma clipping.

    Clipping (astropy.stats.sigma_clipped_stats, up to 10 passes) removes the
    galaxies, so a cutout filled by a bright galaxy still gives its sky noise.
    Measured on at most 100,000 evenly strided values.
    """
    flat = np.asarray(values, dtype=np.float32).ravel()
    flat = flat[:: max(1, flat.size // 100_000)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, median, sigma = sigma_clipped_stats(flat, sigma=3.0, maxiters=10,
                                               stdfunc="mad_std")
    return float(median), float(sigma)


def _fit_asinh_a(band: np.ndarray, settings: RenderSettings) -> float | None:
    """The asinh ``a`` that maps sky + 1 sigma to NOISE_LEVEL, within [1e-4, 1]; None if
    the band has no measurable sky noise."""
    sample = _finite_sample(band)
    if sample.size < 16:
        return None
    sky, sigma = sky_level(sample)
    vmin, vmax = band_limits(band, settings)
    x1 = (sky + sigma - vmin) / (vmax - vmin)
    if not (sigma > 0 and 0 < x1 < 1):
        return None

    def level(a: float) -> float:  # decreases from 1 (a -> 0) to x1 (a -> inf)
        return float(np.arcsinh(x1 / a) / np.arcsinh(1.0 / a))

    lo, hi = np.log(1e-4), np.log(1.0)
    if level(np.exp(hi)) >= NOISE_LEVEL:
        return 1.0
    if level(np.exp(lo)) <= NOISE_LEVEL:
        return 1e-4
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if level(np.exp(mid)) > NOISE_LEVEL:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def make_interval(settings: RenderSettings) -> vis.BaseInterval:
    """The astropy interval object for ``settings``."""
    s = settings
    if s.interval == "percentile":
        return vis.PercentileInterval(s.percent)
    if s.interval == "asym_percentile":
        return vis.AsymmetricPercentileInterval(s.lower_percent, s.upper_percent)
    if s.interval == "minmax":
        return vis.MinMaxInterval()
    if s.interval == "zscale":
        return vis.ZScaleInterval()
    return vis.ManualInterval(s.vmin, s.vmax)


def make_stretch(settings: RenderSettings, data: np.ndarray | None = None) -> vis.BaseStretch:
    """The astropy stretch object; ``histeq`` needs the interval-normalised data ([0, 1])."""
    s, a = settings, settings.stretch_a
    if s.stretch == "linear":
        return vis.LinearStretch()
    if s.stretch == "sqrt":
        return vis.SqrtStretch()
    if s.stretch == "log":
        return vis.LogStretch(a=a)
    if s.stretch == "asinh":
        return vis.AsinhStretch(a=a)
    if s.stretch == "sinh":
        return vis.SinhStretch(a=a)
    if s.stretch == "power":
        return vis.PowerStretch(a=a)
    sample = _finite_sample(data if data is not None else np.linspace(0, 1, 256, dtype=np.float32))
    if sample.size == 0:
        sample = np.linspace(0, 1, 256, dtype=np.float32)
    sample = np.sort(np.clip(sample, 0.0, 1.0))
    if sample.size > _HISTEQ_POINTS:  # the CDF at evenly spaced ranks: same mapping, faster
        sample = sample[np.linspace(0, sample.size - 1, _HISTEQ_POINTS).astype(int)]
    return vis.HistEqStretch(sample)


def band_limits(band: np.ndarray, settings: RenderSettings) -> tuple[float, float]:
    """(vmin, vmax) of one band under ``settings``' interval, in pixel units.

    Measured on the finite pixels only, on a fixed-stride subsample of at most
    INTERVAL_SAMPLE pixels on big bands.  A constant band gets (v - 0.5, v + 0.5).
    """
    if settings.interval == "manual":
        return float(settings.vmin), float(settings.vmax)
    sample = _finite_sample(band)
    if sample.size == 0:
        raise GalaxyCoreError("This band has no finite pixels (all NaN or inf): nothing to show.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vmin, vmax = make_interval(settings).get_limits(sample)
    vmin, vmax = float(vmin), float(vmax)
    if not vmax > vmin:  # constant image: one flat grey rather than a division by zero
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return vmin, vmax


def normalise_band(band: np.ndarray, settings: RenderSettings) -> np.ndarray:
    """Interval then stretch: a new float32 array in [0, 1], NaN kept where masked."""
    vmin, vmax = band_limits(band, settings)
    out = np.subtract(band, np.float32(vmin), dtype=np.float32)
    out *= np.float32(1.0 / (vmax - vmin))
    np.clip(out, 0.0, 1.0, out=out)
    stretch = make_stretch(settings, out)
    with np.errstate(invalid="ignore", divide="ignore"):
        stretch(out, out=out, clip=False)
    return out


def render(field: Field, settings: RenderSettings | None = None) -> np.ndarray:
    """The field as a uint8 RGB picture of shape (H, W, 3), in array row order.

    Row 0 of the result is row 0 of the data (for FITS that is the bottom of
    the sky image: display with the y axis pointing up).  The astropy stretch
    is evaluated once on a LUT_SIZE-point grid of [0, 1] and the pixels are
    looked up in it: the same picture as ``normalise_band`` (within one grey
    level), several times faster on big fields.
    """
    settings = settings or default_settings(field)
    _check_has_pixels(field)
    if field.n_bands == 1:
        return _render_one_band(field.data[0], settings)
    if settings.rgb_method == "lupton":
        return _render_lupton(field.data, settings)
    rgb = np.empty((field.height, field.width, 3), dtype=np.uint8)
    masked = np.zeros((field.height, field.width), dtype=bool)
    for i, band in enumerate(field.data):
        index, band_masked = _lut_index(band, settings)
        rgb[..., i] = _stretch_lut(band, settings)[index]
        masked |= band_masked
    if masked.any():
        rgb[masked] = 0
    return rgb


def preview_scale(field: Field, max_side: int) -> int:
    """The integer block size that brings the longest side to at most ``max_side`` px."""
    if max_side < 1:
        raise GalaxyCoreError(f"The preview size must be at least 1 pixel (got {max_side}).")
    longest = max(field.height, field.width)
    return max(1, int(np.ceil(longest / max_side)))


def downsample(field: Field, factor: int) -> Field:
    """Block-average by ``factor`` x ``factor`` pixels, ignoring masked pixels.

    Edge blocks that stick out of the field average the pixels they hold, so the
    result is ``ceil(H / factor) x ceil(W / factor)``; a block with no finite
    pixel stays NaN.  The WCS is rebinned too (preview pixel ``q`` is centred on
    field pixel ``q * factor + (factor - 1) / 2``).
    """
    if factor <= 1:
        return field
    n, h, w = field.data.shape
    hh, ww = -(-h // factor), -(-w // factor)
    data = field.data
    if (hh * factor, ww * factor) != (h, w):
        data = np.pad(data, ((0, 0), (0, hh * factor - h), (0, ww * factor - w)),
                      constant_values=np.nan)
    blocks = data.reshape(n, hh, factor, ww, factor)
    finite = np.isfinite(blocks)
    if finite.all():
        small = blocks.sum(axis=4, dtype=np.float32).sum(axis=2) / np.float32(factor * factor)
    else:
        total = np.where(finite, blocks, np.float32(0)).sum(axis=4).sum(axis=2)
        count = finite.sum(axis=4, dtype=np.int32).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            small = (total / count).astype(np.float32)
    wcs = None
    if field.wcs is not None:
        try:
            wcs = field.wcs.slice((slice(None, None, factor), slice(None, None, factor)))
            wcs.pixel_shape = (ww, hh)
        except Exception:  # a WCS astropy cannot rebin: the preview goes without one
            wcs = None
    return replace(field, data=np.ascontiguousarray(small, dtype=np.float32), wcs=wcs)


def render_preview(
    field: Field, settings: RenderSettings | None = None, max_side: int = 1024
) -> tuple[np.ndarray, int]:
    """A quick render for interactive tuning: (uint8 RGB, block size used).

    The field is block-averaged so its longest side is at most ``max_side``
    pixels before the interval and stretch run; preview pixel ``q`` covers field
    pixels ``q * block`` to ``(q + 1) * block - 1``.
    """
    factor = preview_scale(field, max_side)
    return render(downsample(field, factor), settings or default_settings(field)), factor


def _check_has_pixels(field: Field) -> None:
    for i, band in enumerate(field.data):
        if not _finite_sample(band).size and not np.isfinite(band).any():
            which = field.band_names[i] if i < len(field.band_names) else f"band {i + 1}"
            if field.n_bands == 1:
                raise GalaxyCoreError(
                    f"'{field.name}' has no finite pixels (all NaN or inf): nothing to show."
                )
            raise GalaxyCoreError(
                f"Band {i + 1} ({which}) of '{field.name}' has no finite pixels (all NaN or "
                "inf): nothing to show in that colour. Check the file for that band."
            )


def _render_one_band(band: np.ndarray, settings: RenderSettings) -> np.ndarray:
    colours = None
    if settings.colormap not in ("gray", "grey", "Greys_r"):
        import matplotlib

        try:
            cmap = matplotlib.colormaps[settings.colormap]
        except KeyError as err:
            raise GalaxyCoreError(
                f"Unknown colormap {settings.colormap!r}; use a matplotlib name such as "
                "'gray', 'viridis', 'magma' or 'inferno'."
            ) from err
        colours = cmap(np.arange(256), bytes=True)[:, :3]
    index, masked = _lut_index(band, settings)
    grey = _stretch_lut(band, settings)[index]
    rgb = np.empty(grey.shape + (3,), dtype=np.uint8)
    for c in range(3):  # one uint8 plane at a time: 3x faster than a (N, 3) table lookup
        rgb[..., c] = grey if colours is None else colours[:, c][grey]
    if masked.any():
        rgb[masked] = 0
    return rgb


def _stretch_lut(band: np.ndarray, settings: RenderSettings) -> np.ndarray:
    """uint8 output level for each of LUT_SIZE evenly spaced interval-normalised values."""
    grid = np.linspace(0.0, 1.0, LUT_SIZE, dtype=np.float64)
    histeq_data = None
    if settings.stretch == "histeq":
        vmin, vmax = band_limits(band, settings)
        histeq_data = (_finite_sample(band) - vmin) / (vmax - vmin)
    with np.errstate(invalid="ignore", divide="ignore"):
        levels = make_stretch(settings, histeq_data)(grid, clip=True)
    return _to_uint8(levels.astype(np.float32))


def _lut_index(band: np.ndarray, settings: RenderSettings) -> tuple[np.ndarray, np.ndarray]:
    """(index into the stretch LUT per pixel as int32, mask of non-finite pixels)."""
    vmin, vmax = band_limits(band, settings)
    scale = (LUT_SIZE - 1) / (vmax - vmin)
    t = np.subtract(band, np.float32(vmin), dtype=np.float32)  # first: exact near vmin
    t *= np.float32(scale)
    t += np.float32(0.5)  # rounds to the nearest LUT entry in the cast below
    np.clip(t, 0.0, LUT_SIZE - 1, out=t)
    masked = np.isnan(t)
    if masked.any():
        t[masked] = 0.0
    return t.astype(np.int32), masked


def _render_lupton(data: np.ndarray, settings: RenderSettings) -> np.ndarray:
    minimum = settings.lupton_minimum
    stretch = settings.lupton_stretch
    if minimum is None or stretch is None:
        limits_settings = settings.with_(interval="asym_percentile")
        lows, highs = zip(*(band_limits(b, limits_settings) for b in data), strict=True)
        if minimum is None:
            minimum = float(min(lows))
        if stretch is None:  # the widest band's span comes out white
            span = float(max(hi - lo for hi, lo in zip(highs, lows, strict=True))) or 1.0
            q = max(settings.lupton_q, 1e-6)
            stretch = q * span / float(np.sinh(10.0 * np.arcsinh(0.1 * q)))
    finite = np.isfinite(data).all(axis=0)
    filled = np.where(np.isfinite(data), data, np.float32(minimum))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rgb = vis.make_lupton_rgb(
            filled[0], filled[1], filled[2], minimum=minimum, stretch=stretch, Q=settings.lupton_q
        )
    rgb = np.array(rgb, dtype=np.uint8)
    rgb[~finite] = 0
    return rgb


def _to_uint8(norm: np.ndarray) -> np.ndarray:
    """[0, 1] float32 (NaN for masked) to uint8, rounding; NaN becomes 0 (black)."""
    scaled = norm * np.float32(255.0)
    scaled += np.float32(0.5)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    return scaled.astype(np.uint8)


def _finite_sample(values: np.ndarray) -> np.ndarray:
    """The finite values of at most INTERVAL_SAMPLE evenly strided pixels, float32."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    if flat.size > INTERVAL_SAMPLE:
        # A fixed stride (not a random draw) keeps renders identical run to run.
        flat = flat[:: int(np.ceil(flat.size / INTERVAL_SAMPLE))]
    return flat[np.isfinite(flat)]
