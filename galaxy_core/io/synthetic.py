"""A deterministic synthetic three-band HST-like field with exact truth.

Galaxies with the looks of the six classes (Sersic bulges, exponential discs
with logarithmic spiral arms and bars, thin edge-on discs, clumpy irregulars)
and stars (PSF with a halo and four diffraction spikes), convolved with a
Gaussian core PSF of ``psf_fwhm`` pixels, over Gaussian sky noise of rms 1 in
each band, with a TAN WCS at 0.06 arcsec/px centred on the Hubble eXtreme Deep
Field.  Pixel values are in units of the sky rms, so a truth row's ``snr`` is
its flux over the noise in its half-light aperture.

Used by the demo, tests and benchmarks: ``synthetic_field(seed=0)`` is always
the same field.

>>> field, truth = synthetic_field(seed=0, size=256, n_galaxies=5, n_stars=2)
>>> field.data.shape, len(truth)
((3, 256, 256), 7)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.wcs import WCS
from scipy import ndimage

from galaxy_core.types import CLASS_NAMES, Field

#: Centre of the Hubble eXtreme Deep Field (deg, ICRS).
XDF_CENTRE = (53.1625, -27.7914)
PIXEL_SCALE_ARCSEC = 0.06

#: Relative flux in (R, G, B) for each look: ellipticals red, irregulars blue.
_COLOURS = {
    "Spiral": (1.0, 0.9, 0.8),
    "Spiral_Barred": (1.0, 0.85, 0.7),
    "Elliptical": (1.0, 0.7, 0.45),
    "On_Edge": (1.0, 0.8, 0.6),
    "Irregular": (0.8, 0.9, 1.0),
    "Star/Artifact": (1.0, 1.0, 1.0),
}


@dataclass(frozen=True)
class _Object:
    label: str
    x: float
    y: float
    flux: float
    re: float
    q: float
    pa: float


def make_wcs(size: int, centre: tuple[float, float] = XDF_CENTRE,
             scale_arcsec: float = PIXEL_SCALE_ARCSEC) -> WCS:
    """A TAN WCS with north up and east left, ``centre`` at the field's centre pixel."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(centre)
    w.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "ICRS"
    return w


def synthetic_field(seed: int = 0, size: int = 2048, *, n_galaxies: int | None = None,
                    n_stars: int | None = None, psf_fwhm: float = 2.0) -> tuple[Field, pd.DataFrame]:
    """(field, truth): a three-band field and one truth row per object.

    Truth columns: ``id, label, x, y, x_min, y_min, x_max, y_max, flux, re, q,
    pa, snr`` (pixels 0-based, ``flux`` summed over bands in sky-rms units,
    ``re`` the half-light radius in px, ``pa`` in radians).  Boxes enclose the
    object out to 3 half-light radii (stars: to 4 px and their spikes' core).
    """
    rng = np.random.default_rng(seed)
    area = (size / 2048) ** 2
    n_gal = int(round(260 * area)) if n_galaxies is None else n_galaxies
    n_star = int(round(40 * area)) if n_stars is None else n_stars
    objects = _place(rng, size, n_gal, n_star)
    bands = np.zeros((3, size, size), dtype=np.float32)
    stars = np.zeros_like(bands)
    rows = []
    for i, obj in enumerate(objects, start=1):
        stamp = _star_stamp(obj, rng) if obj.label == "Star/Artifact" else _galaxy_stamp(obj, rng)
        target = stars if obj.label == "Star/Artifact" else bands
        r = stamp.shape[0] // 2
        x0, y0 = int(round(obj.x)) - r, int(round(obj.y)) - r
        _add(target, stamp, x0, y0, _COLOURS[obj.label], obj.flux)
        half = 3.0 * obj.re if obj.label != "Star/Artifact" else max(4.0, 1.2 * psf_fwhm + obj.re)
        hx = half * np.sqrt((np.cos(obj.pa)) ** 2 + (obj.q * np.sin(obj.pa)) ** 2)
        hy = half * np.sqrt((np.sin(obj.pa)) ** 2 + (obj.q * np.cos(obj.pa)) ** 2)
        aperture = np.pi * max(obj.re, psf_fwhm / 2) ** 2 * max(obj.q, 0.3)
        snr = 0.5 * obj.flux * 3 / np.sqrt(3 * aperture)  # half the light, noise of 3 bands
        rows.append(
            dict(id=i, label=obj.label, x=obj.x, y=obj.y,
                 x_min=max(obj.x - hx, -0.5), y_min=max(obj.y - hy, -0.5),
                 x_max=min(obj.x + hx, size - 0.5), y_max=min(obj.y + hy, size - 0.5),
                 flux=obj.flux * 3, re=obj.re, q=obj.q, pa=obj.pa, snr=snr)
        )
    sigma = psf_fwhm / 2.3548
    for k in range(3):
        bands[k] = ndimage.gaussian_filter(bands[k], sigma, truncate=3.0)
    bands += stars
    bands += rng.normal(0.0, 1.0, bands.shape).astype(np.float32)
    header = {"OBJECT": "Synthetic HST-like field", "SEED": str(seed), "BUNIT": "sky rms"}
    field = Field(data=bands, wcs=make_wcs(size), header=header, name=f"synthetic_{seed}",
                  kind="fits", band_names=("F160W-like", "F125W-like", "F105W-like"))
    return field, pd.DataFrame(rows)


def _place(rng: np.random.Generator, size: int, n_gal: int, n_star: int) -> list[_Object]:
    """Random objects: log-uniform sizes and fluxes, a few crowded pairs."""
    weights = np.array([0.28, 0.12, 0.3, 0.12, 0.18])
    labels = rng.choice(np.array(CLASS_NAMES[:5]), size=n_gal, p=weights / weights.sum())
    objects = []
    for label in labels:
        re = float(np.exp(rng.uniform(np.log(2.0), np.log(min(40.0, size / 12)))))
        surface = float(np.exp(rng.uniform(np.log(0.4), np.log(8.0))))  # mean SB inside re, sky rms
        q = {"On_Edge": rng.uniform(0.12, 0.25), "Elliptical": rng.uniform(0.55, 1.0)}.get(
            str(label), rng.uniform(0.5, 1.0))
        flux = surface * 2 * np.pi * re**2 * q
        margin = -re if rng.random() < 0.05 else 2 * re  # a few cut by the edge
        x, y = rng.uniform(margin, size - 1 - margin, 2)
        objects.append(_Object(str(label), float(x), float(y), float(flux), re, float(q),
                               float(rng.uniform(0, np.pi))))
    for _ in range(n_star):
        flux = float(np.exp(rng.uniform(np.log(60.0), np.log(20000.0))))
        x, y = rng.uniform(8, size - 9, 2)
        objects.append(_Object("Star/Artifact", float(x), float(y), flux, 1.0, 1.0, 0.0))
    return objects


def _galaxy_stamp(obj: _Object, rng: np.random.Generator) -> np.ndarray:
    """A unit-flux stamp of one galaxy, its look chosen by ``obj.label``."""
    r = int(np.ceil(4 * obj.re)) + 3
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    dx, dy = xx - (obj.x - round(obj.x)), yy - (obj.y - round(obj.y))
    c, s = np.cos(obj.pa), np.sin(obj.pa)
    u, v = dx * c + dy * s, -dx * s + dy * c
    rad = np.sqrt(u**2 + (v / obj.q) ** 2)
    if obj.label == "Elliptical":
        img = _sersic(rad, obj.re, 4.0)
    elif obj.label == "On_Edge":
        img = _sersic(rad, obj.re, 1.0) + 0.3 * _sersic(np.hypot(u, v), 0.25 * obj.re, 2.0)
    elif obj.label == "Irregular":
        img = 0.3 * _sersic(rad, obj.re, 1.0)
        for _ in range(int(rng.integers(3, 7))):
            cx, cy = rng.normal(0, 0.8 * obj.re, 2)
            w = rng.uniform(0.15, 0.4) * obj.re
            img += rng.uniform(0.3, 1.0) * np.exp(-((dx - cx) ** 2 + (dy - cy) ** 2) / (2 * w**2))
    else:
        theta = np.arctan2(v / obj.q, u)
        pitch = np.tan(np.radians(rng.uniform(12, 25)))
        arms = 1 + 0.8 * np.cos(2 * (theta - np.log(rad / obj.re + 1e-3) / pitch))
        img = _sersic(rad, obj.re, 1.0) * arms + 0.4 * _sersic(rad, 0.2 * obj.re, 2.5)
        if obj.label == "Spiral_Barred":
            img += 0.8 * np.exp(-(u**2 / (2 * (0.6 * obj.re) ** 2) + v**2 / (2 * (0.12 * obj.re) ** 2)))
    img = np.clip(img, 0, None)
    return img / img.sum()


def _star_stamp(obj: _Object, rng: np.random.Generator) -> np.ndarray:
    """A unit-flux PSF: core, halo and, when bright, four diffraction spikes."""
    r = 25 if obj.flux > 2000 else 10
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
    dx, dy = xx - (obj.x - round(obj.x)), yy - (obj.y - round(obj.y))
    rr = np.hypot(dx, dy)
    img = np.exp(-(rr**2) / (2 * 0.85**2)) + 0.02 * (1 + (rr / 2.0) ** 2) ** -1.5
    if obj.flux > 2000:
        angle = np.radians(45 + rng.normal(0, 1))
        for a in (angle, angle + np.pi / 2):
            along = dx * np.cos(a) + dy * np.sin(a)
            across = -dx * np.sin(a) + dy * np.cos(a)
            img += 0.004 * np.exp(-(across**2) / 0.5) * np.exp(-np.abs(along) / 8.0)
    return img / img.sum()


def _sersic(rad: np.ndarray, re: float, n: float) -> np.ndarray:
    b = 2 * n - 1 / 3 + 0.009876 / n
    return np.exp(-b * ((rad / re) ** (1 / n) - 1))


def _add(target: np.ndarray, stamp: np.ndarray, x0: int, y0: int,
         colour: tuple[float, float, float], flux: float) -> None:
    """Add ``stamp`` at (x0, y0) to each band, clipped at the field's edges."""
    h, w = stamp.shape
    _, height, width = target.shape
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + w, width), min(y0 + h, height)
    if xa >= xb or ya >= yb:
        return
    piece = stamp[ya - y0 : yb - y0, xa - x0 : xb - x0]
    for k in range(3):
        target[k, ya:yb, xa:xb] += np.float32(flux * colour[k]) * piece
