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

A render is planned once per field (:func:`plan_render`: the interval limits
and stretch table of each band, the colormap, or Lupton's parameters, measured
on the field's pixels) and then applied (:func:`apply_plan`) to the whole field
or, window by window, to a field too large to hold: every window of the plan's
output is that window of the whole render.

Settings: :mod:`galaxy_core.display.settings`; the stretch a field opens with:
:mod:`galaxy_core.display.defaults`; previews: :mod:`galaxy_core.display.preview`.

>>> import numpy as np
>>> from galaxy_core.types import Field
>>> f = Field(np.random.default_rng(0).normal(size=(1, 8, 8)).astype(np.float32))
>>> render(f, RenderSettings()).shape
(8, 8, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import visualization as vis

from galaxy_core.display.defaults import default_settings
from galaxy_core.display.scaling import band_limits, finite_sample, make_stretch
from galaxy_core.display.settings import RenderSettings
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field

#: Size of the look-up table ``render`` evaluates the stretch on (input steps of 4e-6:
#: well below one output level even where log's slope is steepest).
LUT_SIZE = 2**18

@dataclass(frozen=True, eq=False)
class BandScale:
    """One band's interval limits (pixel units) and stretch table (uint8 per LUT step)."""

    vmin: float
    vmax: float
    lut: np.ndarray


@dataclass(frozen=True, eq=False)
class RenderPlan:
    """A render's settings resolved against a field's pixels (see the module docstring).

    Attributes:
        bands: one :class:`BandScale` per band (empty for Lupton RGB).
        colours: (256, 3) uint8 colormap for one band, or None for grey.
        lupton: (minimum, stretch, Q) of ``make_lupton_rgb`` for three bands, or None.
    """

    bands: tuple[BandScale, ...]
    colours: np.ndarray | None = None
    lupton: tuple[float, float, float] | None = None


def plan_render(field: Field, settings: RenderSettings | None = None) -> RenderPlan:
    """The plan of ``field``'s render under ``settings`` (default: the field's own).

    ``field`` may be a sample of a larger field (rows spread over it): the
    plan then renders every window of the larger one the same way.
    """
    settings = settings or default_settings(field)
    _check_has_pixels(field)
    if field.n_bands == 3 and settings.rgb_method == "lupton":
        return RenderPlan((), lupton=_lupton_parameters(field.data, settings))
    colours = _colormap(settings) if field.n_bands == 1 else None
    scales = tuple(BandScale(*band_limits(band, settings), _stretch_lut(band, settings))
                   for band in field.data)
    return RenderPlan(scales, colours=colours)


def apply_plan(data: np.ndarray, plan: RenderPlan) -> np.ndarray:
    """uint8 (H, W, 3) of float32 (n_bands, H, W) pixels under ``plan``; masked pixels black."""
    if plan.lupton is not None:
        return _render_lupton(data, *plan.lupton)
    if len(plan.bands) == 1:
        return _render_one_band(data[0], plan.bands[0], plan.colours)
    rgb = np.empty((*data.shape[1:], 3), dtype=np.uint8)
    masked = np.zeros(data.shape[1:], dtype=bool)
    for i, (band, scale) in enumerate(zip(data, plan.bands, strict=True)):
        index, band_masked = _lut_index(band, scale)
        rgb[..., i] = scale.lut[index]
        masked |= band_masked
    if masked.any():
        rgb[masked] = 0
    return rgb


def render(field: Field, settings: RenderSettings | None = None) -> np.ndarray:
    """The field as a uint8 RGB picture of shape (H, W, 3), in array row order.

    Row 0 of the result is row 0 of the data (for FITS that is the bottom of
    the sky image: display with the y axis pointing up).  The astropy stretch
    is evaluated once on a LUT_SIZE-point grid of [0, 1] and the pixels are
    looked up in it: the same picture as ``normalise_band`` (within one grey
    level), several times faster on big fields.
    """
    return apply_plan(field.data, plan_render(field, settings))


def _check_has_pixels(field: Field) -> None:
    for i, band in enumerate(field.data):
        if not finite_sample(band).size and not np.isfinite(band).any():
            which = field.band_names[i] if i < len(field.band_names) else f"band {i + 1}"
            if field.n_bands == 1:
                raise GalaxyCoreError(
                    f"'{field.name}' has no finite pixels (all NaN or inf): nothing to show."
                )
            raise GalaxyCoreError(
                f"Band {i + 1} ({which}) of '{field.name}' has no finite pixels (all NaN or "
                "inf): nothing to show in that colour. Check the file for that band."
            )


def _colormap(settings: RenderSettings) -> np.ndarray | None:
    """(256, 3) uint8 colours of the settings' matplotlib colormap; None for grey."""
    if settings.colormap in ("gray", "grey", "Greys_r"):
        return None
    import matplotlib

    try:
        cmap = matplotlib.colormaps[settings.colormap]
    except KeyError as err:
        raise GalaxyCoreError(
            f"Unknown colormap {settings.colormap!r}; use a matplotlib name such as "
            "'gray', 'viridis', 'magma' or 'inferno'."
        ) from err
    return cmap(np.arange(256), bytes=True)[:, :3]


def _render_one_band(band: np.ndarray, scale: BandScale, colours: np.ndarray | None) -> np.ndarray:
    index, masked = _lut_index(band, scale)
    grey = scale.lut[index]
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
        histeq_data = (finite_sample(band) - vmin) / (vmax - vmin)
    with np.errstate(invalid="ignore", divide="ignore"):
        levels = make_stretch(settings, histeq_data)(grid, clip=True)
    return _to_uint8(levels.astype(np.float32))


def _lut_index(band: np.ndarray, scale: BandScale) -> tuple[np.ndarray, np.ndarray]:
    """(index into the stretch LUT per pixel as int32, mask of non-finite pixels)."""
    vmin, vmax = scale.vmin, scale.vmax
    lut_scale = (LUT_SIZE - 1) / (vmax - vmin)
    t = np.subtract(band, np.float32(vmin), dtype=np.float32)  # first: exact near vmin
    t *= np.float32(lut_scale)
    t += np.float32(0.5)  # rounds to the nearest LUT entry in the cast below
    np.clip(t, 0.0, LUT_SIZE - 1, out=t)
    masked = np.isnan(t)
    if masked.any():
        t[masked] = 0.0
    return t.astype(np.int32), masked


def _lupton_parameters(data: np.ndarray, settings: RenderSettings) -> tuple[float, float, float]:
    """(minimum, stretch, Q) of make_lupton_rgb, the unset ones measured on the bands."""
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
    return minimum, stretch, settings.lupton_q


def _render_lupton(data: np.ndarray, minimum: float, stretch: float, q: float) -> np.ndarray:
    finite = np.isfinite(data).all(axis=0)
    filled = np.where(np.isfinite(data), data, np.float32(minimum))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rgb = vis.make_lupton_rgb(filled[0], filled[1], filled[2], minimum=minimum, stretch=stretch, Q=q)
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
