"""Scale normalisation: the same galaxy at any framing gives nearly the same network input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology.framing import (
    FramingSettings,
    _nearest_label,
    crop_for_detection,
    detection_boxes,
    frame_crop,
    frame_detection,
    measure_extent,
    normalise_scale,
    others_mask,
)
from galaxy_core.types import Detection
from tests.support import galaxy_image


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


def test_others_mask_marks_other_boxes_but_never_the_own_one():
    own = (9.5, 9.5, 19.5, 19.5)  # pixels 10..19 in field px
    boxes = np.array([own, (15.5, 12.5, 29.5, 14.5), (100.0, 100.0, 110.0, 110.0)])
    mask = others_mask(boxes, own, origin=(5, 5), shape=(30, 30))
    # The second box covers field columns 16..29, rows 13..14; window = field - 5.
    expected = np.zeros((30, 30), bool)
    expected[8:10, 11:25] = True
    expected[5:15, 5:15] = False  # the own box wins where they overlap
    assert np.array_equal(mask, expected)
    assert not others_mask(boxes[:1], own, origin=(5, 5), shape=(30, 30)).any()  # its own box only


def _pair(separation: float) -> tuple[np.ndarray, Detection, Detection]:
    """A small galaxy at (100, 100) and a bright, larger one ``separation`` px to its right."""
    small = galaxy_image(200, scale_px=3.0, axis_ratio=1.0, centre=(100.0, 100.0), peak=150.0, noise=0.0)
    big = galaxy_image(200, scale_px=7.0, axis_ratio=1.0, centre=(100.0 + separation, 100.0),
                       peak=220.0, seed=1)
    field = np.clip(small.astype(int) + big.astype(int) - 12, 0, 255).astype(np.uint8)
    det_small = Detection(1, 89.5, 89.5, 110.5, 110.5, 100.0, 100.0, 0.9)
    x = 100.0 + separation
    det_big = Detection(2, x - 25, 75.0, x + 25, 125.0, x, 100.0, 0.9)
    return field, det_small, det_big


def test_neighbour_boxes_keep_a_bright_neighbour_out_of_the_extent():
    alone = galaxy_image(200, scale_px=3.0, axis_ratio=1.0, centre=(100.0, 100.0), peak=150.0, seed=1)
    field, det_small, det_big = _pair(separation=30.0)
    ref = frame_detection(alone, det_small, 64).extent_px
    merged = frame_detection(field, det_small, 64).extent_px
    deblended = frame_detection(field, det_small, 64, others=detection_boxes([det_small, det_big])).extent_px
    assert merged > 1.5 * ref  # the neighbour's light joins the segment
    # Only the neighbour's light inside the small one's own box is left: within 30 %.
    assert abs(np.log(deblended / ref)) < np.log(1.3) < abs(np.log(merged / ref))
    # The big one keeps its own size: the small one's box lies inside its own box.
    big_alone = frame_detection(field, det_big, 64).extent_px
    big_with = frame_detection(field, det_big, 64, others=detection_boxes([det_small, det_big])).extent_px
    assert big_with == pytest.approx(big_alone, rel=0.05)


def test_peak_snr_is_the_smoothed_peak_over_the_smoothed_sky_noise():
    noiseless = galaxy_image(160, scale_px=6.0, axis_ratio=1.0, peak=150.0, sky=80.0, noise=0.0)
    smooth_peak = ndimage.gaussian_filter(noiseless.astype(float).mean(axis=2) - 80.0, 1.0).max()
    for noise in (4.0, 16.0):
        # white noise of sigma ``noise`` per channel: sigma / sqrt(3) in the luminance, then smoothing
        # by a 1 px Gaussian divides it by 2 sqrt(pi)
        expected = smooth_peak / (noise / np.sqrt(3.0) / (2.0 * np.sqrt(np.pi)))
        got = measure_extent(galaxy_image(160, scale_px=6.0, axis_ratio=1.0, peak=150.0, sky=80.0,
                                          noise=noise, seed=3)).peak_snr
        assert got == pytest.approx(expected, rel=0.15)
    assert frame_detection(noiseless, Detection(1, 60, 60, 100, 100, 79.5, 79.5, 0.9), 64).peak_snr > 1000


def test_peak_snr_counts_correlated_noise_in_full():
    rng = np.random.default_rng(0)
    clean = galaxy_image(160, scale_px=6.0, axis_ratio=1.0, peak=150.0, sky=80.0, noise=0.0).astype(float)
    white = rng.normal(0.0, 8.0, clean.shape)
    # Same per-pixel sigma, but each value repeated over 2 x 2 pixels (as resampling correlates noise).
    blocky = np.kron(rng.normal(0.0, 8.0, (80, 80, 3)), np.ones((2, 2, 1)))
    snr = [measure_extent(np.clip(np.round(clean + n), 0, 255).astype(np.uint8)).peak_snr
           for n in (white, blocky)]
    assert snr[1] < 0.7 * snr[0]


def test_detected_neighbours_in_the_border_do_not_pass_for_noise():
    rng = np.random.default_rng(1)
    alone = galaxy_image(150, scale_px=5.0, axis_ratio=1.0, peak=150.0, sky=80.0, noise=6.0, seed=2)
    crowded = alone.astype(float)
    yy, xx = np.mgrid[:150, :150]
    stars = []
    for _ in range(60):  # a star field: bright point sources, most of them in the window's border
        x, y = rng.uniform(3, 147, 2)
        if abs(x - 75) < 30 and abs(y - 75) < 30:
            continue
        crowded += 150.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))[..., None]
        stars.append(Detection(len(stars) + 2, x - 4, y - 4, x + 4, y + 4, x, y, 0.9))
    crowded = np.clip(np.round(crowded), 0, 255).astype(np.uint8)
    det = Detection(1, 50.0, 50.0, 100.0, 100.0, 74.5, 74.5, 0.9)
    ref = frame_detection(alone, det, 64).peak_snr
    blind = frame_detection(crowded, det, 64).peak_snr
    masked = frame_detection(crowded, det, 64, others=detection_boxes([det, *stars])).peak_snr
    assert blind < 0.8 * ref  # the stars inflate the border's scatter
    assert masked == pytest.approx(ref, rel=0.15)


def test_bad_shape_is_a_user_error():
    with pytest.raises(GalaxyCoreError):
        measure_extent(np.zeros((5, 5, 7), np.uint8))
    with pytest.raises(GalaxyCoreError):
        FramingSettings(fill=0.0)


def test_sky_padding_equals_the_whole_noisy_square_with_the_picture_pasted():
    """Only the sky pixels shown are computed; each keeps the value the whole draw gives it."""
    from galaxy_core.display.picture import ArrayPicture
    from galaxy_core.morphology.framing import _sky_padded

    rng = np.random.default_rng(1)
    pic = ArrayPicture((rng.random((50, 70, 3)) * 255).astype(np.uint8))
    level, sigma = pic.edge_sky()
    checked = 0
    for x0 in range(-90, 80, 13):
        for y0 in range(-70, 60, 11):
            for n in (1, 6, 40, 130):
                if 0 <= x0 and 0 <= y0 and x0 + n <= 70 and y0 + n <= 50:
                    continue  # inside: no padding
                whole = level[None, None, :] + np.random.default_rng(3).normal(0.0, sigma, (n, n, 1))
                whole = np.clip(np.round(whole), 0, 255).astype(np.uint8)
                sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + n, 70), min(y0 + n, 50)
                if sx1 > sx0 and sy1 > sy0:
                    whole[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = pic.rgb[sy0:sy1, sx0:sx1]
                np.testing.assert_array_equal(_sky_padded(pic, x0, y0, n, seed=3), whole)
                checked += 1
    assert checked > 300


def test_the_nearest_segment_is_the_distance_transforms_ties_included():
    """Off-centre objects take the segment the whole image's distance transform names."""
    rng = np.random.default_rng(1)
    tied = 0
    for _ in range(3000):
        h, w = rng.integers(5, 40, 2)
        labels, n = ndimage.label(rng.random((h, w)) < rng.uniform(0.005, 0.2))
        iy, ix = rng.integers(0, h), rng.integers(0, w)
        if n == 0 or labels[iy, ix]:
            continue
        reach = 0.25 * min(h, w)
        dist, (yy, xx) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        expected = 0 if dist[iy, ix] > reach else labels[yy[iy, ix], xx[iy, ix]]
        assert _nearest_label(labels, iy, ix, reach) == expected
        d2 = [(y - iy) ** 2 + (x - ix) ** 2 for y, x in zip(*np.nonzero(labels), strict=True)]
        at = [labels[y, x] for (y, x), d in zip(zip(*np.nonzero(labels), strict=True), d2, strict=True)
              if d == min(d2)]
        tied += len(set(at)) > 1 and dist[iy, ix] <= reach
    assert tied > 10  # pixels of two segments at the same distance were among the cases
