"""Label tables: made from detections, written as CSV / ECSV, read back the same; bad rows refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galaxy_core.catalog.labels import (
    LABEL_COLUMNS,
    class_counts,
    labels_frame,
    read_labels,
    trainable,
    write_labels,
)
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology.labelled import match_detections
from galaxy_core.types import CLASS_NAMES, Detection


def _detections() -> list[Detection]:
    probs = (0.1, 0.05, 0.6, 0.1, 0.1, 0.05)
    return [Detection(1, 10, 12, 30, 36, 20.5, 24.0, 0.9, label="Elliptical", probs=probs,
                      ra=150.001, dec=2.002),
            Detection(2, 50, 50, 60, 58, 55.0, 54.0, 0.4, label="galaxy"),
            Detection(3, 80, 10, 90, 30, 85.0, 20.0, 0.7, label="On_Edge", probs=probs[::-1])]


@pytest.mark.parametrize("suffix", [".csv", ".ecsv"])
def test_label_table_round_trip(tmp_path, suffix):
    dets = _detections()
    table = labels_frame(zip(dets, ["Elliptical", "skip", "On_Edge"], strict=True), field="xdf")
    back = read_labels(write_labels(table, tmp_path / f"labels{suffix}"))
    assert list(back.columns) == list(LABEL_COLUMNS)
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    assert back.loc[0, "classifier_label"] == "Elliptical" and back.loc[1, "classifier_label"] == ""
    assert np.isnan(back.loc[1, "Spiral"]) and back.loc[0, "Elliptical"] == pytest.approx(0.6)
    assert back.loc[0, "ra"] == pytest.approx(150.001) and np.isnan(back.loc[2, "ra"])
    assert list(trainable(back)["id"]) == [1, 3]
    assert class_counts(back)["On_Edge"] == 1 and sum(class_counts(back).values()) == 2


def test_a_minimal_hand_made_table_is_read_and_labels_forgive_case(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("path,label\na.png,elliptical\nb.png, Spiral_Barred \nc.png,SKIP\n")
    table = read_labels(path)
    assert list(table["label"]) == ["Elliptical", "Spiral_Barred", "skip"]
    assert (table["id"] == -1).all() and table["field"].eq("").all()
    path.write_text("field,id,label\nxdf,4,Irregular\n")
    assert read_labels(path).loc[0, "id"] == 4


def test_unknown_classes_and_rows_without_a_target_are_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("path,label\na.png,Spiral\nb.png,Lenticular\nc.png,Sprial\n")
    with pytest.raises(GalaxyCoreError, match=r"not a class: 'Lenticular', 'Sprial' \(rows \[2, 3\]\)"):
        read_labels(path)
    path.write_text("field,label\nxdf,Spiral\n")
    with pytest.raises(GalaxyCoreError, match="neither a cutout file"):
        read_labels(path)
    path.write_text("x,y\n1,2\n")
    with pytest.raises(GalaxyCoreError, match="no 'label' column"):
        read_labels(path)
    with pytest.raises(GalaxyCoreError, match=r"\.csv or \.ecsv"):
        read_labels(tmp_path / "labels.txt")


def test_labels_find_their_detection_by_position_after_renumbering():
    dets = _detections()
    table = labels_frame(zip(dets, ["Elliptical", "Spiral", "On_Edge"], strict=True), field="f")
    renumbered = [d.with_(id=10 + d.id, x=d.x + 0.5) for d in reversed(dets)]
    found = match_detections(table, renumbered)
    assert [d.id for d in found] == [11, 12, 13]
    gone = [d for d in renumbered if d.id != 12]
    with pytest.raises(GalaxyCoreError, match=r"1 labelled detection\(s\) of the field no longer exist \(ids 2\)"):
        match_detections(table, gone)
    by_id = table.drop(columns=["x", "y"]).assign(x=np.nan, y=np.nan)
    assert [d.id for d in match_detections(by_id, dets)] == [1, 2, 3]


def test_every_class_name_is_a_label_value():
    table = labels_frame([(d, c) for d, c in zip(_detections() * 2, CLASS_NAMES, strict=True)], field="f")
    assert list(table["label"]) == list(CLASS_NAMES)
