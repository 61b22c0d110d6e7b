"""One detector interface: both detectors called the same way, the floor decided without a model."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_core import shipped
from galaxy_core.detection.base import (
    OPERATING_FLOOR,
    SEES_RENDER,
    Detector,
    DetectSettings,
    numbered,
    score_floor,
)
from galaxy_core.detection.sep import SepDetector
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.synthetic import synthetic_field
from galaxy_core.pipeline import detector_for
from galaxy_core.types import Detection


def test_settings_are_validated_and_upsample_normalised():
    assert DetectSettings(upsample=2.0).upsample == 2 and isinstance(DetectSettings(upsample=2.0).upsample, int)
    for bad in ({"min_score": 1.0}, {"min_score": -0.1}, {"upsample": 4}, {"sep_thresh_sigma": 0},
                {"sep_minarea": 0}):
        with pytest.raises(GalaxyCoreError):
            DetectSettings(**bad)


def test_floor_is_the_settings_or_the_methods_own():
    assert [score_floor(m, None) for m in ("yolo", "sep")] == [OPERATING_FLOOR["yolo"], OPERATING_FLOOR["sep"]]
    assert score_floor("sep", 0.3) == 0.3


def test_sep_is_a_detector_that_keeps_the_floor_and_numbers_once():
    field, _ = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    det = detector_for("sep")
    assert isinstance(det, SepDetector) and isinstance(det, Detector)
    assert det.method == "sep" and det.sees_render is SEES_RENDER["sep"] is False
    loose = det.detect(field, None, DetectSettings(min_score=0.0))
    strict = det.detect(field, None, DetectSettings(min_score=0.7, sep_thresh_sigma=5.0))
    assert [d.id for d in strict] == list(range(1, len(strict) + 1))
    assert len(strict) < len(loose) and min(d.score for d in strict) >= 0.7
    assert all(d.ra is not None for d in strict)  # the field has a WCS


@pytest.mark.skipif("yolo" not in shipped.available_methods(), reason="weights/detector.pt is not trained yet")
def test_yolo_is_a_detector_of_the_rendered_picture():
    det = detector_for("yolo")
    assert isinstance(det, Detector) and det.method == "yolo" and det.sees_render
    field, _ = synthetic_field(seed=2, size=128, n_galaxies=3, n_stars=1)
    with pytest.raises(GalaxyCoreError, match="rendered picture"):
        det.detect(field, None, DetectSettings())


def test_numbered_counts_from_one_in_order():
    dets = [Detection(9, 0, 0, 1, 1, 0.5, 0.5, s) for s in (0.9, 0.5, 0.7)]
    assert [(d.id, d.score) for d in numbered(dets)] == [(1, 0.9), (2, 0.5), (3, 0.7)]
    assert numbered([]) == [] and np.isfinite([d.x for d in numbered(dets)]).all()
