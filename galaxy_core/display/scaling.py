"""From settings to astropy's interval and stretch objects, and a band's black and white levels.

Interval limits are measured on at most ``INTERVAL_SAMPLE`` pixels of a band
(a fixed stride, so a render is the same every time).  Masked pixels (NaN) are
left out; a band with no finite pixel is an error, and a constant band gets
limits one unit apart (one flat grey).
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy import visualization as vis

from galaxy_core.display.settings import RenderSettings
from galaxy_core.errors import GalaxyCoreError

#: Largest number of pixels an interval is measured on (a fixed-stride subsample beyond).
INTERVAL_SAMPLE = 500_000
#: Number of quantiles of a band's CDF the histogram-equalisation stretch interpolates.
_HISTEQ_POINTS = 4096

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
    sample = finite_sample(data if data is not None else np.linspace(0, 1, 256, dtype=np.float32))
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
    sample = finite_sample(band)
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



def finite_sample(values: np.ndarray) -> np.ndarray:
    """The finite values of at most INTERVAL_SAMPLE evenly strided pixels, float32."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    if flat.size > INTERVAL_SAMPLE:
        # A fixed stride (not a random draw) keeps renders identical run to run.
        flat = flat[:: int(np.ceil(flat.size / INTERVAL_SAMPLE))]
    return flat[np.isfinite(flat)]
