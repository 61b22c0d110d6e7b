"""Pixel positions to the sky (RA/Dec, degrees, ICRS) with a field's celestial WCS.

Pixels are 0-based with centres at integers (:mod:`galaxy_core.types`), as
astropy's ``pixel_to_world_values`` takes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from galaxy_core.types import Detection


def sky_of_pixels(wcs, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) in degrees of 0-based pixel positions; NaN where the WCS cannot say."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(all="ignore"):
        try:
            ra, dec = wcs.pixel_to_world_values(x, y)
        except Exception:  # a WCS that fails at these pixels gives no sky position
            return np.full_like(x, np.nan), np.full_like(y, np.nan)
    return np.asarray(ra, dtype=float) % 360.0, np.asarray(dec, dtype=float)


def with_sky(detections: Sequence[Detection], wcs) -> list[Detection]:
    """Detections with ``ra``/``dec`` (deg) of their centre from ``wcs``; unchanged without one."""
    if wcs is None or not detections:
        return list(detections)
    x = np.array([d.x for d in detections], dtype=float)
    y = np.array([d.y for d in detections], dtype=float)
    ra, dec = sky_of_pixels(wcs, x, y)
    return [
        d.with_(ra=None if not np.isfinite(r) else float(r),
                dec=None if not np.isfinite(de) else float(de))
        for d, r, de in zip(detections, ra, dec, strict=True)
    ]
