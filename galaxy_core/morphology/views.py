"""Does a class hold?  One detection's crop through the classifier's own training
augmentations, each view classified again (the app's augmentation preview).

The crop is framed exactly as the run framed it (the other detections' boxes
left out of the object's segment), so the "original" view is what was
classified; the other views are single steps of the train preset
(:func:`~galaxy_core.morphology.transforms.preview_augmentations`) and one draw
of the whole preset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galaxy_core.morphology.framing import crop_for_detection
from galaxy_core.morphology.transforms import preview_augmentations
from galaxy_core.types import CLASS_NAMES, Detection


@dataclass(frozen=True, eq=False)
class AugmentedView:
    """One view of a detection's framed crop and the classifier's call on it.

    Attributes:
        name: the augmentation ("original", "rotated", ..., "train preset").
        image: uint8 (size, size, 3), the network's input size, array row order.
        probs: the six class probabilities (CLASS_NAMES order), without TTA.
    """

    name: str
    image: np.ndarray
    probs: tuple[float, ...]

    @property
    def label(self) -> str:
        """The most probable class."""
        return CLASS_NAMES[int(np.argmax(self.probs))]


def augmented_views(classifier, rgb: np.ndarray, detection: Detection, *,
                    others: np.ndarray | None = None, seed: int = 0) -> list[AugmentedView]:
    """The views of ``detection`` in the rendered field ``rgb`` (uint8 (H, W, 3)), classified.

    Args:
        classifier: a :class:`~galaxy_core.morphology.classifier.Classifier`; its framing,
            input size and training recipe (the far-away step's probability and noise) are used.
        others: the run's boxes (N, 4) (:func:`~galaxy_core.morphology.framing.detection_boxes`).
        seed: seed of the random augmentation draws.
    """
    crop = np.array(crop_for_detection(rgb, detection, classifier.input_size,
                                       settings=classifier.framing, others=others))  # writable
    views = preview_augmentations(crop, classifier.input_size, seed,
                                  distant_p=classifier.train_distant_p,
                                  distant_snr=classifier.train_distant_snr)
    probs = np.asarray(classifier.predict(np.stack([v for _, v in views]), tta=False, framed=True),
                       dtype=float)
    return [AugmentedView(name, view, tuple(float(x) for x in p))
            for (name, view), p in zip(views, probs, strict=True)]


def agreement(views: list[AugmentedView], label: str) -> int:
    """How many views the classifier calls ``label``."""
    return sum(v.label == label for v in views)
