"""Temperature scaling and expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_core.morphology.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_diagram,
    softmax,
)


def _calibrated_sample(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, 6))
    probs = softmax(logits)
    labels = np.array([rng.choice(6, p=p) for p in probs])
    return logits, labels


def test_fit_temperature_recovers_overconfidence():
    logits, labels = _calibrated_sample(4000)
    t = fit_temperature(logits * 2.5, labels)  # logits made 2.5x overconfident
    assert t == pytest.approx(2.5, rel=0.12)


def test_ece_small_when_calibrated_large_when_not():
    logits, labels = _calibrated_sample(4000, seed=1)
    assert expected_calibration_error(softmax(logits), labels) < 0.03
    assert expected_calibration_error(softmax(logits * 3.0), labels) > 0.1


def test_reliability_diagram_png(tmp_path):
    logits, labels = _calibrated_sample(500, seed=2)
    out = reliability_diagram(softmax(logits), labels, tmp_path / "rel.png",
                              uncalibrated=softmax(logits * 2))
    assert out.stat().st_size > 1000
