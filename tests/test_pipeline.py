"""End to end through the pipeline (sep baseline; models where they ship)."""

from __future__ import annotations

import numpy as np
import pytest

from galaxy_core import pipeline, shipped
from galaxy_core.detection.base import OPERATING_FLOOR, score_floor
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.synthetic import synthetic_field


def test_pipeline_sep_gives_sky_positions_and_ids():
    field, truth = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    calls = []
    result = pipeline.run(field, settings=pipeline.RunSettings(method="sep", classify=False),
                          progress=lambda f, m: calls.append(f))
    dets = result.detections
    assert result.method == "sep" and result.floor == 0.05 and not result.classified
    assert result.rgb.shape == (256, 256, 3) and not result.rgb.flags.writeable
    assert dets and [d.id for d in dets] == list(range(1, len(dets) + 1))
    assert all(d.ra is not None for d in dets)
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)


def test_min_score_drops_faint_detections():
    field, _ = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    loose = pipeline.run(field, settings=pipeline.RunSettings(method="sep", classify=False,
                                                              min_score=0.0)).detections
    strict = pipeline.run(field, settings=pipeline.RunSettings(method="sep", classify=False,
                                                               min_score=0.8)).detections
    assert len(strict) < len(loose)
    assert all(d.score >= 0.8 for d in strict)


def test_bad_run_settings_are_clear_errors():
    with pytest.raises(GalaxyCoreError, match="method"):
        pipeline.RunSettings(method="magic")
    with pytest.raises(GalaxyCoreError, match="min_score"):
        pipeline.RunSettings(min_score=1.5)
    for bad in (4, 1.25, "2"):
        with pytest.raises(GalaxyCoreError, match="upsample"):
            pipeline.RunSettings(upsample=bad)
    assert str(pipeline.RunSettings(upsample=2.0).upsample) == "2"  # labels read "2x", not "2.0x"


needs_detector = pytest.mark.skipif(not shipped.DETECTOR_WEIGHTS.exists(),
                                    reason="weights/detector.pt is not trained yet")


@pytest.mark.slow
@needs_detector
def test_yolo_runs_at_the_settings_floor():
    """min_score is YOLO's own floor: a lower floor keeps boxes under the 0.25 operating point."""
    from galaxy_core.io.demo import DEMO_FIELDS

    field = DEMO_FIELDS["xdf"]()
    default = pipeline.run(field, settings=pipeline.RunSettings(method="yolo", classify=False)).detections
    loose = pipeline.run(field, settings=pipeline.RunSettings(method="yolo", classify=False,
                                                              min_score=0.1)).detections
    assert min(d.score for d in default) >= pipeline.load_detector().conf == 0.25
    assert min(d.score for d in loose) >= 0.1
    assert sum(d.score < 0.25 for d in loose) > 100
    assert len(loose) > len(default)


def test_the_detectors_stars_keep_their_class_and_the_classifiers_probabilities():
    from galaxy_core.morphology.framing import FramingSettings
    from galaxy_core.morphology.reliability import ReliabilityRule
    from galaxy_core.types import CLASS_NAMES, Detection

    class SaysElliptical:  # what the classifier says of a spiky Hubble star
        input_size, framing = 32, FramingSettings()
        reliability = ReliabilityRule(min_extent_px=4.0)

        class accuracy_grid:  # noqa: N801  (the grid's one method the pipeline calls)
            @staticmethod
            def expected_accuracy(extents, snrs):
                return np.full(len(extents), 0.8)

        def predict(self, crops, *, tta, framed):
            probs = np.zeros((len(crops), len(CLASS_NAMES)))
            probs[:, CLASS_NAMES.index("Elliptical")] = 0.9
            probs[:, CLASS_NAMES.index("Star/Artifact")] = 0.1
            return probs

    rgb = np.random.default_rng(0).integers(0, 40, (64, 64, 3), dtype=np.uint8)
    rgb[28:36, 10:18] = 250
    rgb[28:36, 40:48] = 250
    found = [Detection(1, 9.5, 27.5, 17.5, 35.5, 13.5, 31.5, 0.9, "star"),
             Detection(2, 39.5, 27.5, 47.5, 35.5, 43.5, 31.5, 0.8, "galaxy")]
    star, galaxy = pipeline.classify(rgb, found, classifier=SaysElliptical())
    assert (star.label, star.detector_label) == ("Star/Artifact", "star")
    assert (galaxy.label, galaxy.detector_label) == ("Elliptical", "galaxy")
    assert star.probs == galaxy.probs and star.probs[CLASS_NAMES.index("Elliptical")] == 0.9
    # the grid's accuracy is the classifier's on galaxies: it says nothing of the detector's star
    assert star.morph_accuracy is None and galaxy.morph_accuracy == 0.8
    assert star.morph_reliable and galaxy.morph_reliable  # 8 px boxes, over the rule's 4 px
    assert pipeline.class_label([0.1, 0.7, 0.1, 0.05, 0.05, 0.0], "object") == "Spiral_Barred"


def test_score_floor_is_the_runs_or_the_methods_own_without_loading_a_model():
    assert pipeline.RunSettings(method="sep", min_score=0.3).floor == 0.3
    assert pipeline.RunSettings(method="sep").floor == OPERATING_FLOOR["sep"] == 0.05
    assert pipeline.RunSettings(method="yolo").floor == OPERATING_FLOOR["yolo"] == 0.25
    assert score_floor("yolo", 0.1) == 0.1
    with pytest.raises(GalaxyCoreError, match="method"):
        score_floor("magic", None)


def test_partial_results_show_the_field_then_boxes_then_classes():
    from galaxy_core.morphology.framing import FramingSettings
    from galaxy_core.types import CLASS_NAMES

    class Uniform:  # a stand-in classifier: one sixth each
        input_size, framing, accuracy_grid, reliability = 32, FramingSettings(), None, None

        def predict(self, crops, *, tta, framed):
            return np.full((len(crops), len(CLASS_NAMES)), 1 / len(CLASS_NAMES))

    field, _ = synthetic_field(seed=2, size=256, n_galaxies=8, n_stars=2)
    seen = []
    final = pipeline.run(field, settings=pipeline.RunSettings(method="sep"), classifier=Uniform(),
                         on_partial=seen.append)
    assert final.complete and all(not r.complete for r in seen)
    assert seen[0].detections == () and seen[0].rgb.shape == (256, 256, 3)
    n = len(final.detections)
    assert n > 3 and len(seen[1].detections) == n and all(d.probs is None for d in seen[1].detections)
    classified = [sum(d.probs is not None for d in r.detections) for r in seen[2:]]
    assert classified == sorted(classified) and classified[-1] == n
    assert all(d.probs is not None for d in final.detections)


@pytest.mark.parametrize("method", ["sep", "auto"])
def test_a_constant_field_has_no_detections_and_says_why(method):
    from galaxy_core.types import Field

    for value in (0.0, 7.5):
        field = Field(np.full((1, 200, 200), value, np.float32), name="flat")
        result = pipeline.run(field, settings=pipeline.RunSettings(method=method))
        assert result.detections == () and result.complete
        assert result.notes == (f"'flat' is constant (every pixel {value:g}): there is nothing to "
                                "detect, so it has no detections.",)
    varied = Field(np.random.default_rng(0).normal(size=(1, 64, 64)).astype(np.float32))
    assert pipeline.blank_field_note(varied) is None
