"""Boxes burnt into the annotated PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from galaxy_core.display.annotate import box_pixels, draw_boxes, png_bytes
from galaxy_core.display.colours import CLASS_COLOURS, rgb_of
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import CLASS_NAMES, Detection


def det(i, x0, y0, x1, y1, score=0.9, label="object", probs=None):
    return Detection(i, x0, y0, x1, y1, (x0 + x1) / 2, (y0 + y1) / 2, score, label, probs)


def onehot(k, p=0.9):
    rest = (1 - p) / 5
    return tuple(p if i == k else rest for i in range(6))


def test_box_pixels_follow_the_pixel_centre_convention():
    # edges at -0.5 and 3.5 cover pixel centres 0..3
    assert box_pixels(det(1, -0.5, -0.5, 3.5, 3.5), (10, 10)) == (0, 0, 3, 3)
    assert box_pixels(det(1, 2.2, 1.0, 4.9, 6.0), (10, 10)) == (3, 1, 4, 6)
    assert box_pixels(det(1, 8.0, 8.0, 30.0, 30.0), (10, 10)) == (8, 8, 9, 9)
    assert box_pixels(det(1, 12.0, 0.0, 15.0, 3.0), (10, 10)) is None


def test_draw_boxes_outlines_in_the_class_colour_and_keeps_the_input():
    rgb = np.zeros((40, 50, 3), np.uint8)
    d = det(1, 9.5, 4.5, 29.5, 19.5, label="Elliptical")
    out = draw_boxes(rgb, [d], line=2)
    colour = np.array(rgb_of("Elliptical"), np.uint8)
    assert not rgb.any(), "the input is not modified"
    # box covers columns 10..29 and rows 5..19; a 2-px outline inside it
    for r, c in [(5, 10), (6, 20), (19, 29), (18, 15), (12, 10), (12, 11), (12, 29), (12, 28)]:
        assert (out[r, c] == colour).all(), (r, c)
    for r, c in [(12, 12), (12, 27), (7, 20), (17, 20), (4, 20), (12, 9), (12, 30), (20, 20)]:
        assert not out[r, c].any(), (r, c)
    changed = (out != 0).any(axis=2).sum()
    assert changed == 20 * 15 - 16 * 11


def test_draw_boxes_colours_each_class_and_white_for_unclassified():
    rgb = np.zeros((30, 30 * 7, 3), np.uint8)
    labels = [*CLASS_NAMES, "object"]
    dets = [det(i + 1, 30 * i + 2, 2, 30 * i + 20, 20, label=lab) for i, lab in enumerate(labels)]
    out = draw_boxes(rgb, dets, line=1)
    for i, lab in enumerate(labels):
        expected = rgb_of(lab) if lab in CLASS_COLOURS else (255, 255, 255)
        assert tuple(out[2, 30 * i + 10]) == expected


def test_draw_boxes_refuses_what_is_not_an_rgb_picture():
    with pytest.raises(GalaxyCoreError, match="uint8"):
        draw_boxes(np.zeros((5, 5), np.uint8), [])
    with pytest.raises(GalaxyCoreError, match="uint8"):
        draw_boxes(np.zeros((5, 5, 3), np.float32), [])
    with pytest.raises(GalaxyCoreError, match="line"):
        draw_boxes(np.zeros((5, 5, 3), np.uint8), [], line=0)


def test_png_bytes_flips_rows_for_fits_display():
    rgb = np.zeros((4, 3, 3), np.uint8)
    rgb[0] = 255  # array row 0 = bottom of a FITS image
    as_is = np.asarray(Image.open(io.BytesIO(png_bytes(rgb))))
    flipped = np.asarray(Image.open(io.BytesIO(png_bytes(rgb, origin_lower=True))))
    assert as_is[0].all() and not as_is[-1].any()
    assert flipped[-1].all() and not flipped[0].any()
