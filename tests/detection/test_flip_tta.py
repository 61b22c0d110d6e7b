"""Flip test-time augmentation of a tile detector (galaxy_core.detection.flip_tta), with fake predictors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from galaxy_core.detection import flip_tta, tiling


def blob_boxes(tile: np.ndarray) -> np.ndarray:
    """Edge boxes (n, 4) of the bright connected regions of an (H, W, 3) tile."""
    labels, _ = ndimage.label(tile[..., 0] > 128)
    out = [[sl[1].start - 0.5, sl[0].start - 0.5, sl[1].stop - 0.5, sl[0].stop - 0.5]
           for sl in ndimage.find_objects(labels)]
    return np.array(out, dtype=float).reshape(-1, 4)


def tile_with(*rects: tuple[int, int, int, int], h: int = 60, w: int = 80) -> np.ndarray:
    """A dark (h, w, 3) tile with bright rectangles (x0, y0, x1, y1), pixel ranges x0..x1-1."""
    tile = np.zeros((h, w, 3), np.uint8)
    for x0, y0, x1, y1 in rects:
        tile[y0:y1, x0:x1] = 255
    return tile


@pytest.mark.parametrize("flip", flip_tta.FLIPS)
def test_unflip_maps_a_flipped_tiles_boxes_back(flip):
    tile = tile_with((0, 3, 7, 9), (50, 40, 80, 60), (20, 10, 21, 11))
    expected = blob_boxes(tile)
    found = flip_tta.unflip_boxes(blob_boxes(flip_tta.flip_image(tile, flip)), flip,
                                  width=80, height=60)
    order = lambda b: b[np.lexsort(b.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(found), order(expected))


def test_an_object_every_view_sees_keeps_its_score_and_one_view_alone_gives_a_quarter():
    box = np.array([[10.0, 10.0, 30.0, 30.0]])
    lone = np.array([[100.0, 100.0, 110.0, 110.0]])
    views = [(box + k, np.array([0.8]), np.array([0])) for k in range(4)]
    views[2] = (np.vstack([box + 2, lone]), np.array([0.8, 0.6]), np.array([0, 1]))
    boxes, scores, labels = flip_tta.fuse_views(views)
    assert scores.tolist() == pytest.approx([0.8, 0.15])
    np.testing.assert_allclose(boxes[0], box[0] + 1.5)  # the mean of the four views' boxes
    np.testing.assert_allclose(boxes[1], lone[0])
    assert labels.tolist() == [0, 1]


def test_fusion_drops_a_views_duplicates_and_votes_the_label_by_score():
    a = np.array([[0.0, 0.0, 20.0, 20.0]])
    near = np.array([[1.0, 0.0, 21.0, 20.0]])  # IoU 0.9 with a: the same object
    views = [
        (np.vstack([a, near]), np.array([0.9, 0.5]), np.array([1, 0])),
        (a, np.array([0.3]), np.array([0])),
        (a, np.array([0.3]), np.array([0])),
        (np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)),
    ]
    boxes, scores, labels = flip_tta.fuse_views(views)
    assert len(boxes) == 1
    assert scores[0] == pytest.approx((0.9 + 0.3 + 0.3) / 4)
    assert labels[0] == 1  # 0.9 for class 1 against 0.6 for class 0
    empty = flip_tta.fuse_views([(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))] * 4)
    assert [len(x) for x in empty] == [0, 0, 0]


def test_separate_objects_are_not_fused():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [12.0, 0.0, 22.0, 10.0]])
    views = [(boxes, np.array([0.7, 0.6]), np.array([0, 0]))] * 4
    fused, scores, _ = flip_tta.fuse_views(views)
    assert scores.tolist() == pytest.approx([0.7, 0.6])
    np.testing.assert_allclose(fused, boxes)


def test_with_flips_maps_every_view_back_to_the_tile():
    """A predictor that only sees the left half of a tile: an object on the right is found
    by the two left-right flipped views, at the right place, with half the score."""

    def left_half_only(tiles):
        out = []
        for t in tiles:
            b = blob_boxes(t)
            b = b[b[:, 2] < t.shape[1] / 2]
            out.append((b, np.full(len(b), 0.8), np.zeros(len(b), int)))
        return out

    tile = tile_with((5, 5, 15, 12), (60, 30, 70, 50))
    (boxes, scores, _), = flip_tta.with_flips(left_half_only)([tile])
    order = np.argsort(boxes[:, 0])
    np.testing.assert_allclose(boxes[order], blob_boxes(tile))
    assert scores[order].tolist() == pytest.approx([0.4, 0.4])


def test_with_flips_is_mirror_symmetric():
    """Flipping the tile flips the fused detections, whatever the predictor's own bias."""
    rng = np.random.default_rng(0)

    def biased(tiles):  # scores depend on position: not symmetric by itself
        out = []
        for t in tiles:
            b = blob_boxes(t)
            out.append((b, 0.2 + 0.7 * (b[:, 0] + 0.5) / t.shape[1], np.zeros(len(b), int)))
        return out

    rects = [(int(x), int(y), int(x) + int(s), int(y) + int(s))
             for x, y, s in zip(rng.integers(0, 70, 6), rng.integers(0, 50, 6), rng.integers(2, 9, 6),
                                strict=True)]
    tile = tile_with(*rects)
    predict = flip_tta.with_flips(biased)
    (b0, s0, _), = predict([tile])
    (b1, s1, _), = predict([flip_tta.flip_image(tile, (True, False))])
    back = flip_tta.unflip_boxes(b1, (True, False), width=80, height=60)
    key = lambda b: np.lexsort(b.T[::-1])  # noqa: E731
    np.testing.assert_allclose(back[key(back)], b0[key(b0)], atol=1e-9)
    np.testing.assert_allclose(s1[key(back)], s0[key(b0)], atol=1e-9)


def test_tiled_detection_with_flips_keeps_field_positions():
    """Through detect_tiled (several tiles, seams): each planted square is found once, in place."""
    image = np.zeros((300, 420, 3), np.uint8)
    squares = [(20, 30), (150, 140), (310, 250), (395, 10), (100, 270)]
    for x, y in squares:
        image[y : y + 8, x : x + 8] = 255

    def predict(tiles):
        return [(blob_boxes(t), np.full(len(blob_boxes(t)), 0.9), np.zeros(len(blob_boxes(t)), int))
                for t in tiles]

    boxes, scores, _ = tiling.detect_tiled(image, flip_tta.with_flips(predict), tile=160,
                                           overlap=32, coarse=False)
    assert len(boxes) == len(squares)
    order = np.lexsort((boxes[:, 1], boxes[:, 0]))
    expected = np.array(sorted([(x - 0.5, y - 0.5, x + 7.5, y + 7.5) for x, y in squares]))
    np.testing.assert_allclose(boxes[order], expected)
    assert scores.tolist() == pytest.approx([0.9] * len(squares))
