"""The shipped models: where their weights lie and which of them this install has.

The weights ship in the repository's ``weights/`` folder (nothing is downloaded
at run time).  ``GALAXY_CORE_WEIGHTS`` names another folder holding
``detector.pt`` and ``classifier.pt`` (for example on a Dask worker whose
checkout keeps them elsewhere).  The models are loaded once per process by
:func:`galaxy_core.pipeline.load_detector` and :func:`~galaxy_core.pipeline.load_classifier`.

>>> available_methods()[-1]
'sep'
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's root (the folder holding ``galaxy_core/`` and ``weights/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The folder of the shipped weights.
WEIGHTS_DIR = Path(os.environ.get("GALAXY_CORE_WEIGHTS") or REPO_ROOT / "weights")
DETECTOR_WEIGHTS = WEIGHTS_DIR / "detector.pt"
CLASSIFIER_WEIGHTS = WEIGHTS_DIR / "classifier.pt"
#: Detection methods, best first.
METHODS = ("yolo", "sep")


def available_methods() -> tuple[str, ...]:
    """Detection methods usable on this install, best first (YOLO needs its weights)."""
    return METHODS if DETECTOR_WEIGHTS.exists() else ("sep",)


def classifier_available() -> bool:
    """Whether the morphology classifier's weights ship with this install."""
    return CLASSIFIER_WEIGHTS.exists()
