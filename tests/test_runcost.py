"""Run-time estimates said before a run starts."""

from __future__ import annotations

import pytest

from galaxy_core.runcost import CostModel, RunShape, say_seconds


def test_estimates_scale_with_the_work_and_learn_from_timed_runs():
    model = CostModel()
    base = RunShape("yolo", megapixels=2.0, objects=500)
    est = model.estimate(base)
    assert est.detect_s > 0 and est.classify_s > 0
    # the small-object pass works on the field upsampled (its area), the flips four times over
    assert model.estimate(RunShape("yolo", 2.0, upsample=2, objects=500)).detect_s == pytest.approx(4 * est.detect_s)
    assert model.estimate(RunShape("yolo", 2.0, flips=True, objects=500)).detect_s == pytest.approx(4 * est.detect_s)
    assert model.estimate(RunShape("yolo", 2.0, tta=True, objects=500)).classify_s == pytest.approx(8 * est.classify_s)
    assert model.estimate(RunShape("yolo", 2.0, classify=False)).classify_s == 0
    # a machine twice as slow as the defaults is learnt within a few runs
    for _ in range(6):
        model.record(base, detect_s=2 * est.detect_s, classify_s=2 * est.classify_s)
    assert model.estimate(base).total_s == pytest.approx(2 * est.total_s, rel=0.05)


def test_seconds_in_words():
    assert say_seconds(2) == "under 5 s"
    assert say_seconds(44) == "about 45 s"
    assert say_seconds(143) == "about 2 min"
