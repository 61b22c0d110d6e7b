"""Small synthetic galaxy pictures for the classifier tests (no real data needed)."""

from __future__ import annotations

import numpy as np


def galaxy_image(size: int, *, scale_px: float, axis_ratio: float = 0.6, angle_deg: float = 30.0,
                 centre: tuple[float, float] | None = None, colour=(1.0, 0.85, 0.6), peak: float = 200.0,
                 sky: float = 12.0, noise: float = 2.0, seed: int = 0) -> np.ndarray:
    """uint8 (size, size, 3): an exponential-profile ellipse of scale length ``scale_px`` on noisy sky."""
    rng = np.random.default_rng(seed)
    cx, cy = centre if centre is not None else ((size - 1) / 2.0, (size - 1) / 2.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    t = np.radians(angle_deg)
    u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
    v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    r = np.sqrt(u**2 + (v / axis_ratio) ** 2)
    prof = peak * np.exp(-r / scale_px)
    img = sky + prof[..., None] * np.asarray(colour)[None, None, :]
    img = img + rng.normal(0.0, noise, size=img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
