"""Smaller versions of a field for interactive tuning and display.

Downsample once (block averages that ignore masked pixels, the WCS rebinned)
and re-render the small field on every change: ``render_preview`` does both.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from galaxy_core.display.defaults import default_settings
from galaxy_core.display.render import render
from galaxy_core.display.settings import RenderSettings
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field


def preview_scale(field: Field, max_side: int) -> int:
    """The integer block size that brings the longest side to at most ``max_side`` px."""
    if max_side < 1:
        raise GalaxyCoreError(f"The preview size must be at least 1 pixel (got {max_side}).")
    longest = max(field.height, field.width)
    return max(1, int(np.ceil(longest / max_side)))


def block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Means of ``factor`` x ``factor`` blocks of float (n, H, W) planes, ignoring NaN, float32.

    Edge blocks that stick out of the planes average the pixels they hold, so the
    result is (n, ceil(H / factor), ceil(W / factor)); a block with no finite
    pixel is NaN.
    """
    n, h, w = data.shape
    hh, ww = -(-h // factor), -(-w // factor)
    if (hh * factor, ww * factor) != (h, w):
        data = np.pad(data, ((0, 0), (0, hh * factor - h), (0, ww * factor - w)),
                      constant_values=np.nan)
    blocks = data.reshape(n, hh, factor, ww, factor)
    finite = np.isfinite(blocks)
    if finite.all():
        return blocks.sum(axis=4, dtype=np.float32).sum(axis=2) / np.float32(factor * factor)
    total = np.where(finite, blocks, np.float32(0)).sum(axis=4, dtype=np.float32).sum(axis=2)
    count = finite.sum(axis=4, dtype=np.int32).sum(axis=2).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def downsample(field: Field, factor: int) -> Field:
    """Block-average by ``factor`` x ``factor`` pixels, ignoring masked pixels.

    Edge blocks that stick out of the field average the pixels they hold, so the
    result is ``ceil(H / factor) x ceil(W / factor)``; a block with no finite
    pixel stays NaN.  The WCS is rebinned too (preview pixel ``q`` is centred on
    field pixel ``q * factor + (factor - 1) / 2``).
    """
    if factor <= 1:
        return field
    small = block_mean(field.data, factor)
    hh, ww = small.shape[1:]
    wcs = None
    if field.wcs is not None:
        try:
            wcs = field.wcs.slice((slice(None, None, factor), slice(None, None, factor)))
            wcs.pixel_shape = (ww, hh)
        except Exception:  # a WCS astropy cannot rebin: the preview goes without one
            wcs = None
    return replace(field, data=np.ascontiguousarray(small, dtype=np.float32), wcs=wcs)


def render_preview(
    field: Field, settings: RenderSettings | None = None, max_side: int = 1024
) -> tuple[np.ndarray, int]:
    """A quick render for interactive tuning: (uint8 RGB, block size used).

    The field is block-averaged so its longest side is at most ``max_side``
    pixels before the interval and stretch run; preview pixel ``q`` covers field
    pixels ``q * block`` to ``(q + 1) * block - 1``.
    """
    factor = preview_scale(field, max_side)
    return render(downsample(field, factor), settings or default_settings(field)), factor
