"""The augmentation preview is measured in the core: each view of the run's crop classified."""

from __future__ import annotations

import numpy as np
import torch
import torchvision

from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import FramingSettings, crop_for_detection, detection_boxes
from galaxy_core.morphology.views import agreement, augmented_views
from galaxy_core.types import CLASS_NAMES, Detection
from tests.support import galaxy_image


def test_views_start_with_the_crop_the_run_classified():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=len(CLASS_NAMES))
    clf = Classifier(model, class_names=CLASS_NAMES, input_size=48, mean=(0.1,) * 3, std=(0.2,) * 3,
                     framing=FramingSettings(), tta=False, backend="torch")
    rgb = galaxy_image(120, scale_px=5.0, seed=3)
    det = Detection(1, 44.5, 44.5, 74.5, 74.5, 59.5, 59.5, 0.9)
    neighbour = Detection(2, 80.0, 80.0, 110.0, 110.0, 95.0, 95.0, 0.8)
    boxes = detection_boxes([det, neighbour])
    views = augmented_views(clf, rgb, det, others=boxes, seed=1)
    assert [v.name for v in views][:2] == ["original", "rotated"] and views[-1].name == "train preset"
    assert len(views) == 11 and all(v.image.shape == (48, 48, 3) for v in views)
    crop = crop_for_detection(rgb, det, 48, settings=clf.framing, others=boxes)
    assert np.array_equal(views[0].image, crop)
    assert np.allclose(clf.predict(crop[None], tta=False, framed=True)[0], views[0].probs)
    assert all(abs(sum(v.probs) - 1.0) < 1e-6 for v in views)
    assert agreement(views, views[0].label) >= 1
    again = augmented_views(clf, rgb, det, others=boxes, seed=1)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(views, again, strict=True))
