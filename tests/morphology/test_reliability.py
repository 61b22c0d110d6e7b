"""Objects too small for morphology are measured and marked, not silently classified."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_core import pipeline, shipped
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import crop_for_detection, frame_detection
from galaxy_core.morphology.reliability import (
    AccuracyGrid,
    ReliabilityRule,
    smallest_reliable_size,
    smallest_reliable_snr,
)
from galaxy_core.types import Detection
from tests.support import galaxy_image

#: The rule of the shipped weights (a test below checks that the checkpoint holds it).
RULE = ReliabilityRule(min_extent_px=24.0, min_peak_snr=60.0)


def _box(x: float, y: float, half: float) -> Detection:
    return Detection(1, x - half, y - half, x + half, y + half, x, y, 0.9)


def test_threshold_handles_scalars_arrays_and_missing_sizes():
    assert bool(RULE.reliable(24.0)) and not bool(RULE.reliable(23.9))
    assert not bool(RULE.reliable(None)) and not bool(RULE.reliable(np.nan))
    assert RULE.reliable([40.0, np.nan, 3.0]).tolist() == [True, False, False]


def test_low_snr_can_only_withdraw_trust():
    big = 34.0
    assert RULE.reliable([big, big, big, big], [60.0, 59.0, np.nan, None]).tolist() == \
        [True, False, True, True]
    assert not bool(RULE.reliable(23.0, 1e4))  # small stays untrusted
    assert bool(ReliabilityRule(24.0).reliable(30.0, 1.0))  # no S/N rule: size alone decides
    assert [RULE.why_not(10.0, 100.0), RULE.why_not(30.0, 10.0), RULE.why_not(30.0, 100.0)] == \
        ["small", "faint", None]
    assert RULE.describe() == "under 24 px across or fainter than peak S/N 60"


def test_snr_rule_pools_large_objects_and_stops_at_the_first_drop():
    # rows: < 24 px (ignored by the rule), 24-48, >= 48; S/N bins 0-15, 15-30, 30-60, >= 60
    acc = ((0.1, 0.2, 0.3, 0.4), (0.50, 0.70, 0.80, 0.82), (0.52, 0.74, 0.79, 0.84))
    grid = AccuracyGrid((0.0, 24.0, 48.0, np.inf), (0.0, 15.0, 30.0, 60.0, np.inf), acc, ((100,) * 4,) * 3)
    edges, pooled, n = grid.accuracy_by_snr(24.0)
    assert pooled == pytest.approx([0.51, 0.72, 0.795, 0.83]) and n.tolist() == [200] * 4
    assert smallest_reliable_snr(grid, min_extent_px=24.0) == 30.0  # 0.72 is more than 0.05 below 0.83
    assert smallest_reliable_snr(grid, min_extent_px=24.0, tolerance=0.15) == 15.0
    assert smallest_reliable_snr(grid, min_extent_px=100.0) is None


def test_accuracy_grid_bins_measured_samples():
    rng = np.random.default_rng(0)
    extent = rng.uniform(4.0, 60.0, 4000)
    snr = rng.uniform(5.0, 200.0, 4000)
    # right when large and bright, wrong when small or faint
    correct = (extent >= 24.0) & (snr >= 50.0)
    grid = AccuracyGrid.from_samples(extent, snr, correct, extent_edges_px=(0, 24, np.inf),
                                     snr_edges=(0, 50, np.inf))
    assert np.array_equal(grid.accuracy, ((0.0, 0.0), (0.0, 1.0)))
    assert sum(map(sum, grid.counts)) == 4000
    got = grid.expected_accuracy([30.0, 30.0, 10.0, np.nan, -1.0], [100.0, 20.0, 100.0, 100.0, 100.0])
    assert got[:3].tolist() == [1.0, 0.0, 0.0] and np.isnan(got[3:]).all()
    assert AccuracyGrid.from_dict(grid.as_dict()) == grid


def test_sparse_cells_have_no_accuracy():
    grid = AccuracyGrid.from_samples([10.0] * 5 + [30.0] * 100, [100.0] * 105, [True] * 105,
                                     extent_edges_px=(0, 24, np.inf), snr_edges=(0, np.inf), min_count=40)
    assert np.isnan(grid.accuracy[0][0]) and grid.accuracy[1][0] == 1.0 and grid.counts[0][0] == 5
    assert np.isnan(grid.expected_accuracy(10.0, 100.0))
    with pytest.raises(ValueError):
        AccuracyGrid((0.0, 24.0), (0.0, 10.0), ((0.5, 0.5),), ((1, 1),))


def test_threshold_rule_wants_the_floor_from_that_size_up():
    # Session 11's stage 10 rows (PSF 1.6 px): 12 px dips below 0.80, 16 px does not.
    rows = {48: 0.833, 32: 0.824, 28: 0.813, 24: 0.814, 20: 0.802, 16: 0.808, 12: 0.796, 8: 0.714}
    assert smallest_reliable_size(rows) == 16.0
    # A size that recovers below a dip does not count: the rule stops at the first miss.
    assert smallest_reliable_size({32: 0.9, 24: 0.7, 16: 0.85}) == 32.0
    assert smallest_reliable_size({32: 0.5, 16: 0.9}) is None
    assert smallest_reliable_size(rows, min_accuracy=0.7) == 8.0


def test_shipped_weights_carry_their_rule_and_accuracy_grid():
    clf = Classifier.load(backend="torch")
    assert clf.reliability == RULE, ("weights/classifier.pt lacks its rule: run bench/bench_resolution.py "
                                     "and bench/bench_reliability.py with --update-checkpoint")
    grid = clf.accuracy_grid
    assert grid is not None, "weights/classifier.pt has no accuracy_grid: run bench/bench_reliability.py"
    # the S/N threshold is the one the grid stored with it gives
    assert smallest_reliable_snr(grid, min_extent_px=RULE.min_extent_px) == RULE.min_peak_snr
    acc = np.asarray(grid.accuracy, dtype=float)
    assert np.nanmax(acc) <= 1.0 and np.nanmin(acc) >= 0.0
    # Measured, not assumed: large, bright galaxies are classified better than tiny, faint ones.
    assert grid.expected_accuracy(60.0, 1000.0) > grid.expected_accuracy(9.0, 15.0)


def test_frame_detection_measures_the_extent_in_field_pixels():
    big = galaxy_image(300, scale_px=8.0, seed=1)
    small = galaxy_image(300, scale_px=2.0, seed=1)
    (crop_big, ext_big, _), (_, ext_small, _) = (frame_detection(im, _box(149.5, 149.5, h), 64)
                                                 for im, h in ((big, 40.0), (small, 10.0)))
    assert ext_big / ext_small == pytest.approx(4.0, rel=0.2)
    assert np.array_equal(crop_big, crop_for_detection(big, _box(149.5, 149.5, 40.0), 64))


@pytest.mark.skipif(not shipped.classifier_available(), reason="weights/classifier.pt is not trained yet")
def test_classified_detections_carry_their_extent():
    field = np.concatenate([galaxy_image(200, scale_px=8.0, seed=2),
                            galaxy_image(200, scale_px=1.0, seed=3)], axis=1)
    dets = [_box(99.5, 99.5, 40.0).with_(id=1), _box(299.5, 99.5, 4.0).with_(id=2)]
    big, tiny = pipeline.classify(field, dets)
    assert big.extent_px > RULE.min_extent_px > tiny.extent_px > 0
    assert RULE.reliable([big.extent_px, tiny.extent_px]).tolist() == [True, False]
    assert big.morph_reliable == bool(RULE.reliable(big.extent_px, big.peak_snr)) and not tiny.morph_reliable
    # both stand far out of noise of 2 DN; the brighter, larger one further
    assert big.peak_snr > tiny.peak_snr > 20
    grid = pipeline.load_classifier().accuracy_grid
    if grid is not None:  # each detection carries its grid cell's accuracy
        assert big.morph_accuracy == grid.expected_accuracy(big.extent_px, big.peak_snr)
    assert sum(big.probs) == pytest.approx(1.0)


def test_classify_keeps_a_detected_neighbour_out_of_the_extent():
    # A small galaxy (exponential scale 2 px) 26 px left of a bright, larger one.
    small = galaxy_image(160, scale_px=2.0, axis_ratio=1.0, centre=(60.0, 80.0), peak=150.0, noise=0.0)
    big = galaxy_image(160, scale_px=6.0, axis_ratio=1.0, centre=(86.0, 80.0), peak=230.0, seed=2)
    field = np.clip(small.astype(int) + big.astype(int) - 12, 0, 255).astype(np.uint8)
    alone = galaxy_image(160, scale_px=2.0, axis_ratio=1.0, centre=(60.0, 80.0), peak=150.0, seed=2)
    small_det = Detection(1, 52.5, 72.5, 67.5, 87.5, 60.0, 80.0, 0.9)
    big_det = Detection(2, 68.0, 62.0, 104.0, 98.0, 86.0, 80.0, 0.9)
    (ref,) = pipeline.classify(alone, [small_det])
    got, _ = pipeline.classify(field, [small_det, big_det])
    (merged,) = pipeline.classify(field, [small_det])  # the neighbour undetected: it merges in
    assert merged.extent_px > 1.5 * ref.extent_px
    assert got.extent_px == pytest.approx(ref.extent_px, rel=0.25)
    assert RULE.reliable(got.extent_px) == RULE.reliable(ref.extent_px)
