"""The stretch a field opens with: pictures as they are, FITS with an asinh fitted to its sky.

``default_settings`` fits the asinh ``a`` of each FITS field so that sky + 1
sigma of noise comes out at ``NOISE_LEVEL`` of full scale (faint noise, the
faintest galaxies visible), over an asymmetric 20-99.95 percentile interval;
pictures (``Field.kind == "picture"``) open with ``PICTURE_SETTINGS`` (manual
0..1, linear).
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
from astropy.stats import sigma_clipped_stats

from galaxy_core.display.scaling import band_limits, finite_sample
from galaxy_core.display.settings import DEFAULT_A, PICTURE_SETTINGS, RenderSettings
from galaxy_core.types import Field

#: Output level (fraction of white) that sky + 1 sigma is mapped to by default_settings.
NOISE_LEVEL = 0.10

def default_settings(field) -> RenderSettings:
    """The settings a field (a Field, or a LazyField read window by window) opens with.

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
        # a field read window by window (io.mosaic.LazyField) is measured on its sampled rows
        measured = field if isinstance(field, Field) else field.sample()
        cached = _DEFAULTS_CACHE[field] = _fitted_defaults(measured)
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
    sample = finite_sample(band)
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
