"""Which classes to believe and which detections to review first."""

from __future__ import annotations

import numpy as np

from galaxy_core.catalog.table import to_frame
from galaxy_core.catalog.triage import (
    PENDING,
    UNTRUSTED,
    display_groups,
    group_order,
    review_order,
    trusted,
    uncertainty,
)
from galaxy_core.types import Detection


def det(i, probs=None, *, label="galaxy", reliable=None, score=0.5, detector_label=None):
    return Detection(i, 0, 0, 10, 10, 5, 5, score, label, probs, morph_reliable=reliable,
                     detector_label=detector_label)


SURE = (0.94, 0.02, 0.01, 0.01, 0.01, 0.01)
TORN = (0.3, 0.3, 0.1, 0.1, 0.1, 0.1)
FLAT = (1 / 6,) * 6


def test_untrusted_classes_are_grouped_apart_and_detector_stars_keep_their_label():
    df = to_frame([
        det(1, SURE, label="Spiral", reliable=True),
        det(2, SURE, label="Spiral", reliable=False),
        det(3, SURE, label="Star/Artifact", reliable=False, detector_label="star"),
        det(4, label="galaxy"),
    ])
    assert trusted(df).tolist() == [True, False, True, False]
    assert display_groups(df).tolist() == ["Spiral", UNTRUSTED, "Star/Artifact", "galaxy"]
    assert display_groups(df, honest=False).tolist() == ["Spiral", "Spiral", "Star/Artifact", "galaxy"]
    # while a run classifies, the rows it has not reached yet wait for their class
    assert display_groups(df, classifying=True).tolist()[3] == PENDING
    assert group_order([PENDING, UNTRUSTED, "galaxy", "Star/Artifact", "Spiral"]) == [
        "Spiral", "Star/Artifact", "galaxy", UNTRUSTED, PENDING]


def test_uncertainty_varies_and_review_order_puts_trusted_rows_first():
    df = to_frame([
        det(1, SURE, label="Spiral", reliable=False, score=0.9),   # untrusted, sure
        det(2, FLAT, label="Spiral", reliable=False, score=0.8),   # untrusted, clueless
        det(3, SURE, label="Spiral", reliable=True, score=0.7),    # trusted, sure
        det(4, TORN, label="Spiral", reliable=True, score=0.6),    # trusted, torn
        det(5, label="galaxy", score=0.2),
        det(6, label="galaxy", score=0.1),
    ])
    u = uncertainty(df).to_numpy()
    assert np.isclose(u[1], 1.0) and u[0] < 0.25 < u[3] < 1.0 and np.isnan(u[4])
    # 1 - margin reads 1.00 for both torn and flat rows; entropy tells them apart
    assert np.isclose(1 - (TORN[0] - TORN[1]), 1.0) and u[3] < u[1]
    assert review_order(df)["id"].tolist() == [4, 3, 2, 1, 6, 5]
