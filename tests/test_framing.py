"""Scale normalisation: the same galaxy at any framing gives nearly the same network input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from synthetic_galaxy import galaxy_image

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.framing import (
    FramingSettings,
    crop_for_detection,
    frame_crop,
    measure_extent,
    normalise_scale,
)
from galaxy_core.types import Detection


def test_extent_scales_with_zoom():
    small = measure_extent(galaxy_image(128, scale_px=5.0))
    big = measure_extent(galaxy_image(256, scale_px=10.0))
    assert big.extent_px / small.extent_px == pytest.approx(2.0, rel=0.1)
    assert small.axis_ratio == pytest.approx(0.6, abs=0.1)
    assert small.x == pytest.approx(63.5, abs=0.5) and small.y == pytest.approx(63.5, abs=0.5)


def test_same_galaxy_two_zooms_gives_nearly_the_same_input():
    near = galaxy_image(256, scale_px=10.0, noise=0.5, seed=1)
    far = galaxy_image(200, scale_px=5.0, noise=0.5, seed=2)  # half the zoom, more sky around it
    flatter = galaxy_image(200, scale_px=5.0, noise=0.5, axis_ratio=0.3, seed=2)
    a, b, c = (normalise_scale(im, 64).astype(float) for im in (near, far, flatter))
    # The object spans the same part of both inputs, unlike after a plain resize.
    ext_a, ext_b = measure_extent(a).extent_px, measure_extent(b).extent_px
    assert ext_a / ext_b == pytest.approx(1.0, abs=0.1)
    plain = [np.asarray(Image.fromarray(im).resize((64, 64))) for im in (near, far)]
    assert measure_extent(plain[0]).extent_px / measure_extent(plain[1]).extent_px > 1.4
    # Pixel by pixel the two framings agree far better than two different galaxies do.
    same, different = np.abs(a - b).mean(), np.abs(b - c).mean()
    assert same < 2.5
    assert different > 2 * same


def test_framing_is_idempotent():
    framed = normalise_scale(galaxy_image(300, scale_px=8.0), 96)
    again = normalise_scale(framed, 96)
    assert np.abs(framed.astype(float) - again.astype(float)).mean() < 4.0


def test_frame_crop_pads_at_the_edge_with_sky():
    img = galaxy_image(64, scale_px=4.0, centre=(4.0, 30.0), sky=40.0, noise=1.0)
    out = frame_crop(img, (4.0, 30.0), 30.0, 32, settings=FramingSettings(max_shrink=1.0))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert abs(float(np.median(out[:, :4])) - 40.0) < 5.0  # the padding looks like sky


def test_crop_for_detection_near_the_field_edge():
    field = galaxy_image(200, scale_px=4.0, centre=(6.0, 100.0), seed=3)
    det = Detection(id=1, x_min=0.0, y_min=88.0, x_max=18.0, y_max=112.0, x=6.0, y=100.0, score=0.9)
    crop = crop_for_detection(field, det, 64)
    assert crop.shape == (64, 64, 3)
    # The galaxy sits in the middle of the crop.
    lum = crop.astype(float).mean(axis=2)
    iy, ix = np.unravel_index(np.argmax(lum), lum.shape)
    assert abs(ix - 31.5) < 6 and abs(iy - 31.5) < 6


def test_bad_shape_is_a_user_error():
    with pytest.raises(GalaxyCoreError):
        measure_extent(np.zeros((5, 5, 7), np.uint8))
    with pytest.raises(GalaxyCoreError):
        FramingSettings(fill=0.0)
