"""FITS pixels to an RGB picture, on top of ``astropy.visualization``.

An *interval* picks the pixel values that map to black and white; a *stretch*
maps [0, 1] to [0, 1] non-linearly.  One band becomes grey or goes through a
matplotlib colormap; three bands go through ``make_rgb`` (the same interval type
and stretch on each band, limits measured per band) or ``make_lupton_rgb``
(Lupton et al. 2004 asinh colour-preserving scaling with Q, stretch, minimum).

Masked (NaN) pixels are rendered black (0, 0, 0) in every mode: they carry no
signal, and black is what sky looks like after any stretch.  Pictures
(``Field.kind == "picture"``) are already in [0, 1] and go through the same
path; the default for them is a linear min-max render, i.e. the picture as is.

>>> import numpy as np
>>> from galaxy_core.types import Field
>>> f = Field(np.random.default_rng(0).normal(size=(1, 8, 8)).astype(np.float32))
>>> render(f, RenderSettings()).shape
(8, 8, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from astropy import visualization as vis

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field

INTERVALS = ("percentile", "asym_percentile", "minmax", "zscale", "manual")
STRETCHES = ("linear", "sqrt", "log", "asinh", "sinh", "power", "histeq")
RGB_METHODS = ("bands", "lupton")

#: Largest number of pixels the interval is measured on (a random subsample beyond).
_INTERVAL_SAMPLE = 1_000_000


@dataclass(frozen=True)
class RenderSettings:
    """How pixel values become an RGB picture.

    Attributes:
        interval: one of INTERVALS.
        percent: central percentage kept by ``"percentile"`` (e.g. 99.5).
        lower_percent, upper_percent: limits of ``"asym_percentile"`` (0..100).
        vmin, vmax: limits of ``"manual"``, in pixel units.
        stretch: one of STRETCHES.
        a: the stretch's parameter: asinh/sinh/log ``a``, power exponent.
        colormap: matplotlib colormap name for one band (``"gray"`` for grey).
        rgb_method: ``"bands"`` (make_rgb) or ``"lupton"`` (make_lupton_rgb) for three bands.
        lupton_q, lupton_stretch, lupton_minimum: make_lupton_rgb's Q, stretch
            (pixel units) and minimum (pixel units); stretch None means "from the
            data" (the 99.5th-percentile span of the bands).
    """

    interval: str = "asym_percentile"
    percent: float = 99.5
    lower_percent: float = 5.0
    upper_percent: float = 99.8
    vmin: float | None = None
    vmax: float | None = None
    stretch: str = "asinh"
    a: float = 0.05
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
        if self.interval == "manual" and (self.vmin is None or self.vmax is None):
            raise GalaxyCoreError("A manual interval needs both vmin and vmax.")
        if self.interval == "manual" and not self.vmin < self.vmax:
            raise GalaxyCoreError(f"A manual interval needs vmin < vmax (got {self.vmin}, {self.vmax}).")
        if not 0 < self.percent <= 100:
            raise GalaxyCoreError("The percentile must be in (0, 100].")
        if not 0 <= self.lower_percent < self.upper_percent <= 100:
            raise GalaxyCoreError("Percentiles must satisfy 0 <= lower < upper <= 100.")
        if self.stretch in ("log", "asinh", "sinh", "power") and not self.a > 0:
            raise GalaxyCoreError(f"The {self.stretch} stretch needs a > 0.")
        if self.lupton_q < 0:
            raise GalaxyCoreError("Lupton Q must be >= 0.")

    def with_(self, **changes) -> RenderSettings:
        return replace(self, **changes)


#: What a colour picture (PNG/JPEG) is rendered with by default: the picture as is.
PICTURE_SETTINGS = RenderSettings(interval="minmax", stretch="linear")


def default_settings(field: Field) -> RenderSettings:
    """The settings a field opens with: asinh on HST-like FITS, as-is for pictures."""
    return PICTURE_SETTINGS if field.kind == "picture" else RenderSettings()


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
    """The astropy stretch object; ``histeq`` needs the (interval-normalised) data."""
    s = settings
    if s.stretch == "linear":
        return vis.LinearStretch()
    if s.stretch == "sqrt":
        return vis.SqrtStretch()
    if s.stretch == "log":
        return vis.LogStretch(a=max(s.a, 1e-6) if s.a < 1 else s.a)
    if s.stretch == "asinh":
        return vis.AsinhStretch(a=min(s.a, 1.0))
    if s.stretch == "sinh":
        return vis.SinhStretch(a=s.a)
    if s.stretch == "power":
        return vis.PowerStretch(a=s.a)
    sample = _finite_sample(data if data is not None else np.linspace(0, 1, 256))
    return vis.HistEqStretch(np.clip(sample, 0, 1))


def band_limits(band: np.ndarray, settings: RenderSettings) -> tuple[float, float]:
    """(vmin, vmax) of one band under ``settings``' interval, in pixel units.

    Measured on the finite pixels only (a random subsample of at most
    1e6 pixels on big bands, so the result is the same within noise).
    """
    sample = _finite_sample(band)
    if sample.size == 0:
        raise GalaxyCoreError("This band has no finite pixels (all NaN or inf): nothing to show.")
    vmin, vmax = make_interval(settings).get_limits(sample)
    vmin, vmax = float(vmin), float(vmax)
    if not vmax > vmin:  # constant image: show it mid-grey rather than divide by zero
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return vmin, vmax


def normalise_band(band: np.ndarray, settings: RenderSettings) -> np.ndarray:
    """Interval then stretch: float32 in [0, 1], NaN kept where masked."""
    vmin, vmax = band_limits(band, settings)
    with np.errstate(invalid="ignore"):
        scaled = np.clip((band - vmin) / (vmax - vmin), 0.0, 1.0).astype(np.float32)
    stretch = make_stretch(settings, scaled)
    finite = np.isfinite(scaled)
    out = np.full_like(scaled, np.nan)
    out[finite] = stretch(scaled[finite], clip=True)
    return out


def render(field: Field, settings: RenderSettings | None = None) -> np.ndarray:
    """The field as a uint8 RGB picture of shape (H, W, 3), in array row order.

    Row 0 of the result is row 0 of the data (for FITS that is the bottom of
    the sky image: display with the y axis pointing up).
    """
    settings = settings or default_settings(field)
    if field.n_bands == 1:
        return _render_one_band(field.data[0], settings)
    if settings.rgb_method == "lupton":
        return _render_lupton(field.data, settings)
    planes = [normalise_band(b, settings) for b in field.data]
    rgb = np.stack(planes, axis=-1)
    return _to_uint8(rgb)


def preview_scale(field: Field, max_side: int) -> int:
    """The integer block size that brings the longest side to at most ``max_side`` px."""
    longest = max(field.height, field.width)
    return max(1, int(np.ceil(longest / max_side)))


def downsample(field: Field, factor: int) -> Field:
    """Block-average by ``factor`` (NaN-aware), keeping WCS-free metadata."""
    if factor <= 1:
        return field
    n, h, w = field.data.shape
    hh, ww = h // factor, w // factor
    if hh == 0 or ww == 0:
        return field
    blocks = field.data[:, : hh * factor, : ww * factor].reshape(n, hh, factor, ww, factor)
    with np.errstate(invalid="ignore"), _ignore_empty_slice():
        small = np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
    return replace(field, data=small, wcs=None)


def render_preview(
    field: Field, settings: RenderSettings | None = None, max_side: int = 1024
) -> tuple[np.ndarray, int]:
    """A quick render for interactive tuning: (uint8 RGB, block size used).

    The field is block-averaged so its longest side is at most ``max_side``
    pixels before the interval and stretch run; multiply preview pixel
    coordinates by the block size to get field pixels.
    """
    factor = preview_scale(field, max_side)
    return render(downsample(field, factor), settings), factor


def _render_one_band(band: np.ndarray, settings: RenderSettings) -> np.ndarray:
    norm = normalise_band(band, settings)
    masked = ~np.isfinite(norm)
    if settings.colormap in ("gray", "grey", "Greys_r"):
        rgb = np.repeat(norm[..., None], 3, axis=-1)
    else:
        import matplotlib

        try:
            cmap = matplotlib.colormaps[settings.colormap]
        except KeyError as err:
            raise GalaxyCoreError(f"Unknown colormap {settings.colormap!r}.") from err
        rgb = cmap(np.nan_to_num(norm, nan=0.0))[..., :3].astype(np.float32)
        rgb[masked] = 0.0
    return _to_uint8(rgb)


def _render_lupton(data: np.ndarray, settings: RenderSettings) -> np.ndarray:
    finite = np.isfinite(data)
    if not finite.any():
        raise GalaxyCoreError("These bands have no finite pixels (all NaN or inf): nothing to show.")
    minimum = settings.lupton_minimum
    stretch = settings.lupton_stretch
    if minimum is None or stretch is None:
        lows, highs = zip(*(band_limits(b, settings.with_(interval="asym_percentile",
                                                            lower_percent=5.0,
                                                            upper_percent=99.5))
                            for b in data), strict=True)
        if minimum is None:
            minimum = float(min(lows))
        if stretch is None:
            stretch = float(max(h - lo for h, lo in zip(highs, lows, strict=True))) or 1.0
    filled = np.where(finite, data, minimum).astype(np.float32)
    rgb = vis.make_lupton_rgb(
        filled[0], filled[1], filled[2], minimum=minimum, stretch=stretch, Q=settings.lupton_q
    )
    rgb = np.asarray(rgb, dtype=np.uint8).copy()
    rgb[~finite.all(axis=0)] = 0
    return rgb


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    out = np.nan_to_num(rgb, nan=0.0)
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _finite_sample(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float32).ravel()
    if flat.size > _INTERVAL_SAMPLE:
        # A fixed stride (not a random draw) keeps renders identical run to run.
        flat = flat[:: int(np.ceil(flat.size / _INTERVAL_SAMPLE))]
    return flat[np.isfinite(flat)]


class _ignore_empty_slice:
    """Silence numpy's 'Mean of empty slice' for all-NaN blocks (they stay NaN)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
