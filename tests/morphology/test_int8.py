"""The cheaper int8 path serves only objects whose class cannot be trusted, and says so per row."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from galaxy_core import pipeline, shipped
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.int8 import int8_path, quantised
from galaxy_core.types import Detection
from tests.support import galaxy_image

needs_int8 = pytest.mark.skipif(not int8_path(shipped.CLASSIFIER_WEIGHTS).exists(),
                                reason="weights/classifier_int8.onnx is not made yet")


@needs_int8
def test_untrusted_objects_go_through_int8_and_trusted_ones_through_float():
    clf = pipeline.load_classifier()
    rule = clf.reliability
    rgb = np.concatenate([galaxy_image(200, scale_px=8.0, seed=2), galaxy_image(200, scale_px=1.0, seed=3),
                          galaxy_image(200, scale_px=2.0, seed=4)], axis=1)
    big = Detection(1, 59.5, 59.5, 139.5, 139.5, 99.5, 99.5, 0.9)
    tiny = Detection(2, 296.0, 96.0, 303.0, 103.0, 299.5, 99.5, 0.9)  # 7 px: cannot reach the rule
    medium = Detection(3, 490.0, 90.0, 509.0, 109.0, 499.5, 99.5, 0.9)  # 19 px box, a small galaxy
    assert 2 * 7 < rule.min_extent_px <= 2 * 19
    done = pipeline.classify(rgb, [big, tiny, medium], classifier=clf)
    assert [d.morph_reliable for d in done] == [True, False, False]
    assert [d.class_precision for d in done] == ["float32", "int8", "int8"]
    assert all(abs(sum(d.probs) - 1) < 1e-6 for d in done)
    as_float = pipeline.classify(rgb, [tiny], classifier=clf, tta=True)[0]  # TTA: float only
    assert as_float.class_precision == "float32"


@needs_int8
def test_a_quantised_file_of_other_weights_is_ignored(tmp_path):
    weights = tmp_path / "classifier.pt"
    shutil.copyfile(shipped.CLASSIFIER_WEIGHTS, weights)
    shutil.copyfile(int8_path(shipped.CLASSIFIER_WEIGHTS), int8_path(weights))
    assert quantised(Classifier.load(weights, backend="torch")) is not None
    with open(weights, "ab") as fh:  # other weights (the checkpoint still loads)
        fh.write(b"\0")
    assert quantised(Classifier.load(weights, backend="torch")) is None
