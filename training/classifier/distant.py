"""Validation galaxies seen as distant ones: shrunk through a PSF, with sky noise.

The benches measure the classifier on its validation cutouts shown as a small,
faint galaxy in a Hubble field would be (``bench/bench_resolution.py``,
``bench/bench_reliability.py``); training does the same at random with
:class:`~galaxy_core.morphology.transforms.DistantGalaxy`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from galaxy_core.morphology.framing import sky_stats


def shrink(image: np.ndarray, scale: float, *, psf_fwhm_px: float, snr: float = 0.0,
           seed: int = 0) -> np.ndarray:
    """uint8 (H, W, 3) seen ``scale`` (< 1) times smaller, through a Gaussian PSF of FWHM in output px.

    ``snr`` > 0 adds Gaussian sky noise to the small image: sigma = peak luminance above sky / snr (DN).
    """
    x = image.astype(np.float32)
    if psf_fwhm_px > 0:
        sigma_in = psf_fwhm_px / 2.3548 / scale
        x = ndimage.gaussian_filter(x, (sigma_in, sigma_in, 0))
    side = max(3, round(image.shape[0] * scale)), max(3, round(image.shape[1] * scale))
    small = np.asarray(Image.fromarray(np.clip(x + 0.5, 0, 255).astype(np.uint8)).resize(
        side, Image.Resampling.BOX))
    if snr <= 0:
        return small
    level, _ = sky_stats(small)
    peak = float((small.astype(np.float32) - level).mean(axis=2).max())
    noisy = small + np.random.default_rng(seed).normal(0.0, max(peak, 1.0) / snr, small.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
