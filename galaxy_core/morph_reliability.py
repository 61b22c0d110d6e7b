"""Whether an object is large enough for the classifier's morphology to mean something.

A galaxy only a few pixels across shows no arms, bar or disc; the classifier
still returns six probabilities for it.  ``bench/bench_resolution.py``
measures where its classes stop meaning anything: the 1,253 labelled
validation galaxies, blurred by a Gaussian PSF of FWHM 1.6 px (as in drizzled
HST images) and area-averaged until they span N px, then classified as the app
classifies crops (no TTA); ``--snr`` adds sky noise.  For the shipped
classifier (stage 11, trained with noisy
:class:`~galaxy_core.morph_transforms.DistantGalaxy` views) accuracy over the
five galaxy classes is 0.843 at full size, 0.824 at 32 px and 0.784 at 16 px
without noise, and 0.778 / 0.736 / 0.661 at 16 px for a peak S/N of 20 / 10 /
5 (stage 10, trained without the noise, kept 0.808 at 16 px without noise
but fell to 0.555 / 0.458 / 0.497 with it).  The full tables are in
``weights/MODEL_CARD.md`` ("Accuracy versus galaxy size").

The class is trusted from :data:`MIN_EXTENT_PX` up: the smallest size measured
from which accuracy with the PSF stays at least 0.80
(:func:`smallest_reliable_size`).  ``bench_resolution.py --update-checkpoint``
stores the derived size in the checkpoint (``min_extent_px``), and a test
checks that it equals this constant, so new weights cannot ship with a stale
threshold.  Below it the catalogue's
``morph_reliable`` column is False and the app says the class is unreliable.
The extent is the one framing measures for every classified detection
(:attr:`Detection.extent_px`: 4 x the rms radius along the major axis of the
object's segment, field px).
"""

from __future__ import annotations

import numpy as np

#: Smallest measured extent (field px) at which the shipped classifier's class is trusted.
MIN_EXTENT_PX = 24.0
#: Accuracy over the galaxy classes that the rule asks for at every size from the threshold up.
MIN_ACCURACY = 0.80


def smallest_reliable_size(accuracy_by_size: dict[float, float], *,
                           min_accuracy: float = MIN_ACCURACY) -> float | None:
    """The smallest size (px) from which every measured size has ``accuracy >= min_accuracy``.

    Args:
        accuracy_by_size: accuracy measured at each galaxy size, px -> 0..1.
        min_accuracy: the floor.

    Returns:
        That size, or None when even the largest size measured falls below the floor.
    """
    best = None
    for size in sorted(accuracy_by_size, reverse=True):
        if accuracy_by_size[size] < min_accuracy:
            break
        best = float(size)
    return best


def morphology_reliable(extent_px) -> np.ndarray:
    """True where ``extent_px`` (scalar or array; NaN/None when unmeasured) is >= :data:`MIN_EXTENT_PX`."""
    extent = np.asarray(extent_px if extent_px is not None else np.nan, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(extent, nan=-1.0) >= MIN_EXTENT_PX
