"""What a viewer shows under the cursor and along the axes: pixel values and sky positions on a
coarse grid, and lines of constant RA and Dec (a graticule) in pixel coordinates.

A browser cannot evaluate a WCS; a viewer hands it a grid instead.
:func:`hover_grid` averages the field over square cells (at most ``max_cells``
of them) and gives each cell's centre RA/Dec, so hovering anywhere reads the
cell's pixel position, its mean value per band and its sky position.
:func:`graticule` gives a few lines of round RA and Dec, as pixel polylines
with their labels, for sky-coordinate axes over a pixel image.

>>> from galaxy_core.io.synthetic import synthetic_field
>>> field = synthetic_field(seed=0, size=256, n_galaxies=2, n_stars=0)[0]
>>> grid = hover_grid(field, max_cells=1024)
>>> grid.cell, grid.values.shape, grid.ra.shape
(8, (3, 32, 32), (32, 32))
>>> lines = graticule(field.wcs, field.width, field.height)
>>> sorted({line.axis for line in lines})
['dec', 'ra']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from galaxy_core.sky import sky_of_pixels
from galaxy_core.types import Field

#: Grid steps offered for Dec, arcsec.
DEC_STEPS_ARCSEC = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000)
#: Grid steps offered for RA, seconds of time (15 arcsec of arc each at the equator).
RA_STEPS_S = (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


@dataclass(frozen=True, eq=False)
class HoverGrid:
    """A field averaged over square cells, with each cell's sky position.

    Attributes:
        x, y: cell centres in field pixels (0-based), shapes (nx,) and (ny,).
        cell: the cells' side, field px.
        values: (n_bands, ny, nx) float32, the mean of each cell's finite pixels (NaN where none).
        ra, dec: (ny, nx) degrees at the cell centres, or None without a WCS (NaN where it cannot say).
    """

    x: np.ndarray
    y: np.ndarray
    cell: int
    values: np.ndarray
    ra: np.ndarray | None
    dec: np.ndarray | None


def hover_grid(field: Field, *, max_cells: int = 40_000) -> HoverGrid:
    """The field's :class:`HoverGrid` with the smallest square cell giving at most ``max_cells`` cells."""
    h, w = field.height, field.width
    cell = max(1, math.ceil(math.sqrt(h * w / max(1, max_cells))))
    while math.ceil(h / cell) * math.ceil(w / cell) > max_cells:
        cell += 1
    ny, nx = math.ceil(h / cell), math.ceil(w / cell)
    padded = np.full((field.n_bands, ny * cell, nx * cell), np.nan, np.float32)
    padded[:, :h, :w] = field.data
    blocks = padded.reshape(field.n_bands, ny, cell, nx, cell)
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        values = np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
    x = np.minimum(np.arange(nx) * cell + (cell - 1) / 2.0, (np.arange(nx) * cell + w - 1) / 2.0)
    y = np.minimum(np.arange(ny) * cell + (cell - 1) / 2.0, (np.arange(ny) * cell + h - 1) / 2.0)
    ra = dec = None
    if field.wcs is not None:
        xx, yy = np.meshgrid(x, y)
        ra, dec = sky_of_pixels(field.wcs, xx, yy)
    return HoverGrid(x=x, y=y, cell=cell, values=values, ra=ra, dec=dec)


@dataclass(frozen=True, eq=False)
class GridLine:
    """One line of constant RA or Dec across the field.

    Attributes:
        axis: ``"ra"`` or ``"dec"``: which coordinate is constant.
        value: that coordinate, degrees.
        label: the value as astronomers write it (RA in h m s, Dec in d m s).
        x, y: the line in field pixels; NaN where it leaves the field (a gap).
    """

    axis: str
    value: float
    label: str
    x: np.ndarray
    y: np.ndarray


def _step(span: float, steps: tuple[float, ...], per_unit: float, target: int) -> float:
    """The smallest offered step (degrees) giving at most ``target`` lines over ``span`` degrees."""
    for s in steps:
        if span / (s * per_unit) <= target:
            return s * per_unit
    return steps[-1] * per_unit


def _ra_label(deg: float, step_deg: float) -> str:
    from astropy.coordinates import Angle

    decimals = 0 if step_deg * 240 >= 1 - 1e-9 else (1 if step_deg * 240 >= 0.1 - 1e-9 else 2)
    return Angle(deg % 360, unit="deg").to_string(unit="hour", sep="hms", precision=decimals, pad=True)


def _dec_label(deg: float, step_deg: float) -> str:
    from astropy.coordinates import Angle

    decimals = 0 if step_deg * 3600 >= 1 - 1e-9 else 1
    return Angle(deg, unit="deg").to_string(unit="deg", sep=("\u00b0", "\u2032", "\u2033"), precision=decimals,
                                             alwayssign=True, pad=True)


def graticule(wcs, width: int, height: int, *, target_lines: int = 5,
              samples: int = 200) -> list[GridLine]:
    """Lines of round RA and Dec crossing a ``width`` x ``height`` field (none without a WCS).

    The step is the smallest round one (:data:`RA_STEPS_S`, :data:`DEC_STEPS_ARCSEC`) giving
    at most ``target_lines`` lines of each kind over the field's sky extent.
    """
    if wcs is None:
        return []
    gx, gy = np.meshgrid(np.linspace(-0.5, width - 0.5, 48), np.linspace(-0.5, height - 0.5, 48))
    ra, dec = sky_of_pixels(wcs, gx, gy)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if not ok.any():
        return []
    ra0 = float(np.median(ra[ok]))
    dra = ((ra[ok] - ra0 + 180.0) % 360.0) - 180.0  # unwrapped around the centre
    ra_lo, ra_hi = ra0 + dra.min(), ra0 + dra.max()
    dec_lo, dec_hi = float(dec[ok].min()), float(dec[ok].max())
    ra_step = _step(ra_hi - ra_lo, RA_STEPS_S, 15.0 / 3600.0, target_lines)  # lines count in RA
    dec_step = _step(dec_hi - dec_lo, DEC_STEPS_ARCSEC, 1.0 / 3600.0, target_lines)
    lines: list[GridLine] = []
    pad_ra, pad_dec = 0.05 * (ra_hi - ra_lo), 0.05 * (dec_hi - dec_lo)
    dec_samples = np.linspace(dec_lo - pad_dec, dec_hi + pad_dec, samples)
    for k in range(math.ceil(ra_lo / ra_step), math.floor(ra_hi / ra_step) + 1):
        value = k * ra_step
        x, y = _inside(wcs, np.full(samples, value % 360.0), dec_samples, width, height)
        if np.isfinite(x).sum() >= 2:
            lines.append(GridLine("ra", value % 360.0, _ra_label(value, ra_step), x, y))
    ra_samples = np.linspace(ra_lo - pad_ra, ra_hi + pad_ra, samples) % 360.0
    for k in range(math.ceil(dec_lo / dec_step), math.floor(dec_hi / dec_step) + 1):
        value = k * dec_step
        x, y = _inside(wcs, ra_samples, np.full(samples, value), width, height)
        if np.isfinite(x).sum() >= 2:
            lines.append(GridLine("dec", value, _dec_label(value, dec_step), x, y))
    return lines


def _inside(wcs, ra: np.ndarray, dec: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions of sky points, NaN outside the field."""
    with np.errstate(all="ignore"):
        try:
            x, y = wcs.world_to_pixel_values(ra, dec)
        except Exception:  # a WCS that cannot invert here draws no line
            return np.full(len(ra), np.nan), np.full(len(ra), np.nan)
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = ~((x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5))
    x[out] = np.nan
    y[out] = np.nan
    return x, y
