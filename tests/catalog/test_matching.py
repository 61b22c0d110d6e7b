"""Box matching, precision/recall and average precision on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galaxy_core.catalog.matching import (
    average_precision,
    evaluate_boxes,
    match_boxes,
    precision_recall,
)


def _truth(boxes, detectable=None) -> pd.DataFrame:
    df = pd.DataFrame(np.asarray(boxes, float), columns=["x_min", "y_min", "x_max", "y_max"])
    df["detectable"] = True if detectable is None else detectable
    return df


def test_best_score_takes_the_truth_box_first():
    truth = np.array([[0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [1, 1, 11, 11]], float)
    # The lower-IoU box has the higher score: it takes the object, the other is a duplicate.
    assert match_boxes(pred, np.array([0.5, 0.9]), truth).tolist() == [-1, 0]


def test_iou_below_half_is_no_match_but_centre_mode_accepts_it():
    truth = np.array([[0, 0, 10, 10]], float)
    pred = np.array([[2, 2, 16, 16]], float)  # IoU = 64 / 232, centres inside each other's box
    assert match_boxes(pred, np.array([1.0]), truth, mode="iou").tolist() == [-1]
    assert match_boxes(pred, np.array([1.0]), truth, mode="centre").tolist() == [0]
    with pytest.raises(ValueError):
        match_boxes(pred, np.array([1.0]), truth, mode="nearest")


def test_undetectable_matches_are_ignored_not_false():
    truth = _truth([[0, 0, 10, 10], [50, 50, 60, 60]], detectable=[True, False])
    pred = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], float)
    ev = evaluate_boxes(pred, np.array([0.9, 0.8, 0.7]), truth)
    assert ev.tp.tolist() == [True, False, False]
    assert ev.ignored.tolist() == [False, True, False]
    assert ev.fp.tolist() == [False, False, True]
    assert ev.found.tolist() == [True, False]
    assert precision_recall([ev], 0.0) == (0.5, 1.0)
    assert precision_recall([ev], 0.75) == (1.0, 1.0)


def test_average_precision_of_a_known_ranking():
    # Two objects; ranking TP, FP, TP: precision 1 at recall 0.5, 2/3 at recall 1.
    truth = _truth([[0, 0, 10, 10], [20, 20, 30, 30]])
    pred = np.array([[0, 0, 10, 10], [60, 60, 70, 70], [20, 20, 30, 30]], float)
    ev = evaluate_boxes(pred, np.array([0.9, 0.8, 0.7]), truth)
    assert average_precision([ev]) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # Perfect ranking, and nothing found at all.
    perfect = evaluate_boxes(pred, np.array([0.9, 0.1, 0.7]), truth)
    assert average_precision([perfect]) == pytest.approx(1.0)
    none = evaluate_boxes(np.zeros((0, 4)), np.zeros(0), truth)
    assert average_precision([none]) == 0.0
    assert precision_recall([none], 0.0) == (0.0, 0.0)


def test_pooling_over_fields_counts_every_object():
    a = evaluate_boxes(np.array([[0, 0, 10, 10]], float), np.array([0.9]), _truth([[0, 0, 10, 10]]))
    b = evaluate_boxes(np.zeros((0, 4)), np.zeros(0), _truth([[0, 0, 10, 10]]))
    assert precision_recall([a, b], 0.5) == (1.0, 0.5)
    assert average_precision([a, b]) == pytest.approx(0.5)


def test_points_in_boxes_counts_edges_and_has_boxes_as_rows():
    from galaxy_core.catalog.matching import points_in_boxes

    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 6.0, 6.0]])
    xy = np.array([[10.0, 0.0], [5.5, 5.5], [11.0, 3.0]])
    assert points_in_boxes(xy, boxes).tolist() == [[True, True, False], [False, True, False]]
    assert points_in_boxes(np.zeros((0, 2)), boxes).shape == (2, 0)


def test_coverage_counts_strong_sources_inside_boxes():
    from galaxy_core.catalog.matching import coverage

    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    xy = np.array([[5, 5], [25, 25], [50, 50], [6, 6], [40, 5]], float)
    snr = np.array([12, 30, 15, 5, 9.9])  # the last two are too faint to count
    assert coverage(boxes, xy, snr) == (2, 3)
    assert coverage(boxes, xy, snr, min_snr=3) == (3, 5)
    assert coverage(np.zeros((0, 4)), xy, snr) == (0, 3)
    assert coverage(boxes, np.zeros((0, 2)), np.zeros(0)) == (0, 0)
