"""Detection boxes burnt into an RGB picture, for the annotated PNG export; pictures as PNG or JPEG.

Boxes are drawn in the class colours of :mod:`galaxy_core.display.colours` (white for an
unclassified detection), ``line`` pixels wide, inside each box's edges.  The
picture is in array row order (row 0 first), the same order as the boxes.

>>> import numpy as np
>>> from galaxy_core.types import Detection
>>> out = draw_boxes(np.zeros((10, 10, 3), np.uint8), [Detection(1, 1.5, 1.5, 7.5, 7.5, 4.5, 4.5, 0.9)])
>>> int(out[2, 2:8, 0].min()), int(out[5, 5, 0])
(255, 0)
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from galaxy_core.display.colours import CLASS_COLOURS, UNCLASSIFIED_COLOUR, rgb_of
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Detection

__all__ = ["CLASS_COLOURS", "UNCLASSIFIED_COLOUR", "box_pixels", "draw_boxes", "jpeg_bytes", "png_bytes"]


def box_pixels(detection: Detection, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The first and last column and row (inclusive) a box covers, clipped to ``shape``.

    A pixel ``i`` spans ``[i - 0.5, i + 0.5]``; it belongs to the box when its
    centre lies inside the box edges.  None when the box misses the picture.
    """
    height, width = shape
    c0 = max(0, int(np.ceil(detection.x_min)))
    c1 = min(width - 1, int(np.floor(detection.x_max)))
    r0 = max(0, int(np.ceil(detection.y_min)))
    r1 = min(height - 1, int(np.floor(detection.y_max)))
    if c1 < c0 or r1 < r0:
        return None
    return c0, r0, c1, r1


def draw_boxes(rgb: np.ndarray, detections: Sequence[Detection], *, line: int = 2) -> np.ndarray:
    """A copy of ``rgb`` (uint8, (H, W, 3)) with each detection's box outlined in its class colour.

    ``line`` is the outline width in pixels, drawn inside the box; boxes
    thinner than two lines are filled.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise GalaxyCoreError(f"Boxes are drawn on a uint8 (H, W, 3) picture, got {rgb.dtype} {rgb.shape}.")
    if line < 1:
        raise GalaxyCoreError("The box line width must be at least 1 pixel.")
    out = rgb.copy()
    for d in detections:
        px = box_pixels(d, rgb.shape[:2])
        if px is None:
            continue
        c0, r0, c1, r1 = px
        colour = np.array(rgb_of(d.label), dtype=np.uint8)
        out[r0 : min(r0 + line, r1 + 1), c0 : c1 + 1] = colour
        out[max(r1 - line + 1, r0) : r1 + 1, c0 : c1 + 1] = colour
        out[r0 : r1 + 1, c0 : min(c0 + line, c1 + 1)] = colour
        out[r0 : r1 + 1, max(c1 - line + 1, c0) : c1 + 1] = colour
    return out


def png_bytes(rgb: np.ndarray, *, origin_lower: bool = False) -> bytes:
    """``rgb`` (uint8, (H, W, 3)) as PNG bytes.

    ``origin_lower=True`` flips the rows so that array row 0 is the bottom of
    the PNG, as a FITS sky image is displayed.
    """
    return _encoded(rgb, origin_lower, format="PNG", compress_level=1)


def jpeg_bytes(rgb: np.ndarray, *, origin_lower: bool = False) -> bytes:
    """``rgb`` (uint8, (H, W, 3)) as JPEG bytes (quality 88), rows flipped as :func:`png_bytes`."""
    return _encoded(rgb, origin_lower, format="JPEG", quality=88)


def _encoded(rgb: np.ndarray, origin_lower: bool, **save: object) -> bytes:
    picture = np.asarray(rgb)[::-1] if origin_lower else np.asarray(rgb)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(buf, **save)
    return buf.getvalue()
