"""Filtering and ordering the catalogue for review."""

from __future__ import annotations

import math

import pytest

from galaxy_core.catalog.review import (
    entropy,
    filter_catalog,
    margin,
    too_small_for_morphology,
    top_classes,
    uncertain_first,
    uncertainty,
)
from galaxy_core.catalog.table import to_frame
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Detection


def det(i, x0, y0, x1, y1, score=0.9, label="object", probs=None):
    return Detection(i, x0, y0, x1, y1, (x0 + x1) / 2, (y0 + y1) / 2, score, label, probs)


def onehot(k, p=0.9):
    rest = (1 - p) / 5
    return tuple(p if i == k else rest for i in range(6))


@pytest.fixture
def catalogue():
    return to_frame([
        det(1, 0, 0, 4, 4, 0.95, "Spiral", onehot(0, 0.9)),
        det(2, 0, 0, 4, 4, 0.30, "Elliptical", (0.3, 0.0, 0.4, 0.1, 0.1, 0.1)),
        det(3, 0, 0, 4, 4, 0.60, "On_Edge", onehot(3, 0.5)),
        det(4, 0, 0, 4, 4, 0.10, "object"),
        det(5, 0, 0, 4, 4, 0.70, "object"),
    ])


def test_filter_by_score_and_class(catalogue):
    assert filter_catalog(catalogue, min_score=0.5)["id"].tolist() == [1, 3, 5]
    assert filter_catalog(catalogue, classes=["Spiral", "object"])["id"].tolist() == [1, 4, 5]
    assert filter_catalog(catalogue, min_score=0.5, classes=["object"])["id"].tolist() == [5]
    assert filter_catalog(catalogue, classes=[]).empty
    with pytest.raises(GalaxyCoreError, match="threshold"):
        filter_catalog(catalogue, min_score=1.5)


def test_filter_keeps_only_objects_large_enough_for_morphology():
    sized = to_frame([det(1, 0, 0, 40, 40, 0.9, "Spiral", onehot(0, 0.9)).with_(extent_px=45.0,
                                                                                 morph_reliable=True),
                      det(2, 0, 0, 6, 6, 0.9, "Irregular", onehot(4, 0.9)).with_(extent_px=6.0,
                                                                                morph_reliable=False),
                      det(3, 0, 0, 6, 6, 0.9, "object")])
    assert filter_catalog(sized)["id"].tolist() == [1, 2, 3]
    assert filter_catalog(sized, reliable_only=True)["id"].tolist() == [1]
    assert too_small_for_morphology(sized) == (1, 2)


def test_margin_and_entropy(catalogue):
    m = margin(catalogue)
    assert m.iloc[0] == pytest.approx(0.9 - 0.02)
    assert m.iloc[1] == pytest.approx(0.1)
    assert m.iloc[2] == pytest.approx(0.5 - 0.1)
    assert math.isnan(m.iloc[3])
    h = entropy(catalogue)
    uniform = to_frame([det(1, 0, 0, 1, 1, probs=(1 / 6,) * 6)])
    certain = to_frame([det(1, 0, 0, 1, 1, probs=(1.0, 0, 0, 0, 0, 0))])
    assert entropy(uniform).iloc[0] == pytest.approx(1.0)
    assert entropy(certain).iloc[0] == pytest.approx(0.0)
    assert 0 < h.iloc[0] < h.iloc[2] < 1
    assert uncertainty(catalogue, by="margin").iloc[1] == pytest.approx(0.9)
    with pytest.raises(GalaxyCoreError, match="uncertainty"):
        uncertainty(catalogue, by="coin")


def test_uncertain_first_orders_classified_then_unclassified(catalogue):
    assert uncertain_first(catalogue)["id"].tolist() == [2, 3, 1, 4, 5]
    # entropy weighs the whole spread: #3 (0.5 and five 0.1) is more mixed than #2
    assert uncertain_first(catalogue, by="entropy")["id"].tolist() == [3, 2, 1, 4, 5]
    sep_only = catalogue[catalogue["label"] == "object"]
    assert uncertain_first(sep_only)["id"].tolist() == [4, 5]
    assert uncertain_first(catalogue.iloc[:0]).empty


def test_top_classes_text(catalogue):
    text = top_classes(catalogue, k=2)
    assert text.iloc[0] == "Spiral 0.90, Spiral_Barred 0.02"
    assert text.iloc[1] == "Elliptical 0.40, Spiral 0.30"
    assert text.iloc[3] == "unclassified"
