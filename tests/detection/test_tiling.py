"""Tiling geometry and seam merging (galaxy_core.detection.tiling), on synthetic boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from galaxy_core.detection import boxes as boxes_mod
from galaxy_core.detection import tiling
from galaxy_core.display.picture import block_mean_rgb


@pytest.mark.parametrize("length,tile,overlap", [(100, 64, 16), (640, 640, 96), (2048, 640, 96),
                                                 (1001, 320, 32), (50, 640, 96)])
def test_tiles_cover_every_pixel_and_stay_inside(length, tile, overlap):
    starts = tiling.tile_starts(length, tile, overlap)
    covered = np.zeros(length, dtype=int)
    for s in starts:
        assert 0 <= s and (s + tile <= length or s == 0)
        covered[s : s + tile] += 1
    assert covered.min() >= 1
    if length > tile:
        assert starts[-1] + tile == length  # last tile flush with the edge
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_any_object_up_to_the_overlap_lies_whole_in_some_tile():
    rng = np.random.default_rng(0)
    tiles = tiling.make_tiles(1500, 1700, tile=400, overlap=60)
    for _ in range(2000):
        w, h = rng.uniform(1, 60, 2)
        x0, y0 = rng.uniform(-0.5, 1700 - 0.5 - w), rng.uniform(-0.5, 1500 - 0.5 - h)
        assert any(t.x0 - 0.5 <= x0 and x0 + w <= t.x1 - 0.5 and t.y0 - 0.5 <= y0
                   and y0 + h <= t.y1 - 0.5 for t in tiles)


def test_inner_edges_flagged_but_not_the_field_border():
    tiles = tiling.make_tiles(1000, 1000, tile=640, overlap=96)
    assert len(tiles) == 4
    top_left = tiles[0]
    assert top_left.inner == (False, False, True, True)
    boxes = np.array([
        [-0.5, 10, 20, 30],       # on the field's left border: a real edge object, kept
        [600, 10, 639.5, 30],     # touches the inner right edge: cut
        [100, 620, 120, 639.5],   # touches the inner bottom edge: cut
        [300, 300, 320, 320],     # inside
    ])
    assert tiling.touches_inner_edge(boxes, top_left).tolist() == [False, True, True, False]


def test_to_field_shifts_and_undoes_block_averaging():
    t = tiling.Tile(100, 200, 740, 840, (True, True, True, True))
    assert tiling.to_field(np.array([[0, 0, 10, 5]]), t).tolist() == [[100, 200, 110, 205]]
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[8:16, 4:12] = 255  # field pixels x 4..11, y 8..15: edges 3.5..11.5, 7.5..15.5
    small = block_mean_rgb(image, 4)
    ys, xs = np.nonzero(small[..., 0])
    local = np.array([[xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]])
    whole = tiling.Tile(0, 0, 8, 8, (False,) * 4)
    assert tiling.to_field(local, whole, factor=4).tolist() == [[3.5, 7.5, 11.5, 15.5]]


def test_downsample_averages_ragged_blocks():
    image = np.full((10, 7, 3), 200, dtype=np.uint8)
    small = block_mean_rgb(image, 4)
    assert small.shape == (3, 2, 3)
    assert (small == 200).all()


def test_merge_fuses_duplicates_and_keeps_neighbours():
    boxes = np.array([[0, 0, 10, 10], [0.4, 0, 10.4, 10], [30, 30, 40, 40], [9, 0, 19, 10]])
    scores = np.array([0.9, 0.6, 0.8, 0.7])
    merged, s, labels = boxes_mod.merge_boxes(boxes, scores, np.array([0, 0, 1, 0]), iou=0.5)
    assert len(merged) == 3
    assert s.tolist() == [0.9, 0.8, 0.7]
    assert merged[0, 0] == pytest.approx(0.4 * 0.6 / 1.5)
    assert labels.tolist() == [0, 1, 0]


def _oracle(tiles):
    """A pixel-honest 'detector': one box per connected bright blob, cut blobs too."""
    out = []
    for pixels in tiles:
        lab, n = ndimage.label(pixels[..., 0] > 127)
        boxes = [[sl[1].start - 0.5, sl[0].start - 0.5, sl[1].stop - 0.5, sl[0].stop - 0.5]
                 for sl in ndimage.find_objects(lab)]
        out.append((np.array(boxes).reshape(-1, 4), np.ones(n), np.zeros(n, dtype=int)))
    return out


def _field_with_boxes(rng, height, width, sizes, gap=3):
    """Separated rectangles (no two within ``gap`` px) and their exact edge boxes."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    taken = np.zeros((height, width), dtype=bool)
    truth = []
    for size in sizes:
        for _ in range(200):
            w, h = int(size), int(max(2, size * rng.uniform(0.5, 1.0)))
            x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            if not taken[max(0, y0 - gap) : y0 + h + gap, max(0, x0 - gap) : x0 + w + gap].any():
                taken[y0 : y0 + h, x0 : x0 + w] = True
                image[y0 : y0 + h, x0 : x0 + w] = 255
                truth.append([x0 - 0.5, y0 - 0.5, x0 + w - 0.5, y0 + h - 0.5])
                break
    return image, np.array(truth)


def test_seams_give_no_duplicates_and_no_halves():
    rng = np.random.default_rng(3)
    sizes = np.r_[rng.integers(3, 40, 150), [70, 90, 150]]
    image, truth = _field_with_boxes(rng, 900, 1100, sizes)
    boxes, _, _ = tiling.detect_tiled(image, _oracle, tile=256, overlap=48, coarse=True, iou=0.5)
    assert len(boxes) == len(truth)  # no duplicates and nothing lost
    iou = boxes_mod.box_iou(truth, boxes)
    best = iou.max(axis=1)
    small = (truth[:, 2] - truth[:, 0]) <= 48
    assert (best[small] > 0.999).all()  # seen whole, so exact: not cut in half at a seam
    assert (best[~small] > 0.8).all()  # large ones from the coarse pass, to its block size


def test_without_coarse_pass_objects_longer_than_overlap_across_seams_are_lost():
    image = np.zeros((512, 512, 3), dtype=np.uint8)
    image[100:140, 180:300] = 255  # 120 px long, across the seam at x = 256
    fine, _, _ = tiling.detect_tiled(image, _oracle, tile=256, overlap=32, coarse=False)
    both, _, _ = tiling.detect_tiled(image, _oracle, tile=256, overlap=32, coarse=True)
    assert len(fine) == 0
    assert len(both) == 1
    assert boxes_mod.box_iou(both, np.array([[179.5, 99.5, 299.5, 139.5]]))[0, 0] > 0.9


def test_progress_reaches_one():
    calls = []
    image = np.zeros((300, 300, 3), dtype=np.uint8)
    tiling.detect_tiled(image, _oracle, tile=128, overlap=16,
                        progress=lambda f, m: calls.append((f, m)))
    assert calls[-1][0] == 1.0 and "tiles" in calls[-1][1]
    assert [f for f, _ in calls] == sorted(f for f, _ in calls)


def test_bad_tile_geometry_is_refused():
    with pytest.raises(ValueError):
        tiling.tile_starts(100, 64, 64)


@pytest.mark.parametrize("factor", [1.5, 2])
def test_upsampled_fine_pass_keeps_field_coordinates_and_seams(factor):
    rng = np.random.default_rng(5)
    sizes = np.r_[rng.integers(3, 40, 120), [70, 120]]
    image, truth = _field_with_boxes(rng, 701, 799, sizes, gap=8)  # > 1 coarse block apart
    boxes, _, _ = tiling.detect_tiled(image, _oracle, tile=256, overlap=48, coarse=True,
                                      iou=0.5, upsample=factor)
    assert len(boxes) == len(truth)  # no duplicates and nothing lost
    iou = boxes_mod.box_iou(truth, boxes)
    small = (truth[:, 2] - truth[:, 0]) <= 48
    # whole in a fine tile, back in field px: edges off by at most half an upsampled px
    # (and the rounding of odd sides), whatever the box size
    edge_error = np.abs(boxes[iou.argmax(axis=1)] - truth)[small]
    assert edge_error.max() <= 0.5 / factor + 0.05
    assert (iou.max(axis=1)[~small] > 0.7).all()  # the coarse pass's large objects


def test_upsampling_places_a_single_pixel_where_it_was():
    image = np.zeros((40, 50, 3), dtype=np.uint8)
    image[12, 30] = 255
    up = tiling.upsampled(image, 2)
    assert up.shape == (80, 100, 3)
    ys, xs = np.nonzero(up[..., 0] > 127)
    t = tiling.Tile(0, 0, 100, 80, (False,) * 4)
    local = np.array([[xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]])
    assert tiling.to_field(local, t, factor=0.5).tolist() == [[29.5, 11.5, 30.5, 12.5]]
    with pytest.raises(ValueError):  # half steps only
        tiling.detect_tiled(image, _oracle, tile=64, overlap=8, upsample=1.25)
    with pytest.raises(ValueError):  # tiles would overlap by more than half
        tiling.detect_tiled(image, _oracle, tile=64, overlap=8, upsample=4)


def test_fractional_upsampling_maps_back_per_axis_on_odd_sides():
    image = np.zeros((41, 53, 3), dtype=np.uint8)  # 1.5x: 61.5 -> 62, 79.5 -> 80 px
    image[3, 50] = 255
    image[37, 2] = 255
    up = tiling.upsampled(image, 1.5)
    assert up.shape == (62, 80, 3)
    back = (53 / 80, 41 / 62)
    t = tiling.Tile(0, 0, 80, 62, (False,) * 4)
    for x, y in ((50, 3), (2, 37)):
        # the brightest upsampled pixel near the planted one maps back within 0.4 px
        fx, fy = (x + 0.5) / back[0] - 0.5, (y + 0.5) / back[1] - 0.5
        x0, y0 = int(fx) - 2, int(fy) - 2
        win = up[y0 : y0 + 5, x0 : x0 + 5, 0].astype(float)
        yy, xx = np.mgrid[y0 : y0 + 5, x0 : x0 + 5]
        cx, cy = (xx * win).sum() / win.sum(), (yy * win).sum() / win.sum()
        mapped = tiling.to_field(np.array([[cx, cy, cx, cy]]), t, factor=back)[0]
        assert abs(mapped[0] - x) < 0.4 and abs(mapped[1] - y) < 0.4
