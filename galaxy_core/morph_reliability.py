"""Whether an object is large enough for the classifier's morphology to mean something.

A galaxy only a few pixels across shows no arms, bar or disc; the classifier
still returns six probabilities for it, and for such blobs it leans to
Irregular, then (below about 8 px) to Star/Artifact.  ``bench/bench_resolution.py``
measured where that starts: the 1,253 labelled validation galaxies, blurred
by a Gaussian PSF and area-averaged until they span N px, then classified as
the app classifies crops (shipped weights, no TTA).  With a PSF of FWHM 1.6 px,
as in drizzled HST images, accuracy over the five galaxy classes is 0.858 at
full size, 0.824 at 32 px, 0.729 at 24 and 0.502 at 16 (pixel integration
alone keeps 0.816 down to 16 px).  The full table is in ``weights/MODEL_CARD.md``.

So the class is trusted from :data:`MIN_EXTENT_PX` up, the smallest size
measured whose accuracy with the PSF is within 0.05 of full size; below it
the catalogue's ``morph_reliable`` column is False and the app says the class
is unreliable.  The extent is the one framing measures for every classified
detection (:attr:`Detection.extent_px`: 4 x the rms radius along the major
axis of the object's segment, field px).
"""

from __future__ import annotations

import numpy as np

#: Smallest measured extent (field px) at which the classifier's class is trusted.
MIN_EXTENT_PX = 32.0


def morphology_reliable(extent_px) -> np.ndarray:
    """True where ``extent_px`` (scalar or array; NaN/None when unmeasured) is >= :data:`MIN_EXTENT_PX`."""
    extent = np.asarray(extent_px if extent_px is not None else np.nan, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(extent, nan=-1.0) >= MIN_EXTENT_PX
