"""Labelled data for the classifier: the Kaggle mapping, the README mapping, the split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.picture import read_rgb
from galaxy_core.types import CLASS_NAMES
from training.classifier.data import (
    KAGGLE_COLUMNS,
    class_counts,
    kaggle_labels,
    labelled_items,
    ngc_label,
    split_of,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

# The table: GalaxyID, Class1.1, Class1.3, Class2.1, Class3.1, Class4.1, Class8.4, label.
KAGGLE_ROWS = [
    (100008, 0.383147, 0.0, 0.0, 0.038452149, 0.418397819, 0.0272265, "Spiral"),
    (100023, 0.327001, 0.009222, 0.031178269, 0.467369636, 0.591327989, 0.0, "Spiral"),
    (100053, 0.765717, 0.056931, 0.0, 0.0, 0.0, 0.0, "Elliptical"),
    (100078, 0.693377, 0.068059, 0.0, 0.109493481, 0.189098232, 0.0961194, "Elliptical"),
    (100090, 0.933839, 0.066161, 0.0, 0.0, 0.0, 0.0, "Elliptical"),
    (100122, 0.738832, 0.023009, 0.0, 0.0, 0.0, 0.098965, "Elliptical"),
    (100123, 0.462492, 0.081475, 0.0, 0.0, 0.0, 0.0, "Elliptical"),
    (100128, 0.687783, 0.023873, 0.0, 0.069098179, 0.0, 0.0, "Elliptical"),
    (100134, 0.021834, 0.001214, 0.021750859, 0.313076726, 0.546490632, 0.4502247, "Spiral"),
    (100143, 0.269843, 0.0, 0.730157, 0.0, 0.0, 0.0, "On_Edge"),
]
ALL_KAGGLE_COLUMNS = [f"Class{q}.{a}" for q, n in
                      [(1, 3), (2, 2), (3, 2), (4, 2), (5, 4), (6, 2), (7, 3), (8, 7), (9, 3), (10, 3), (11, 6)]
                      for a in range(1, n + 1)]


def test_kaggle_mapping_table(tmp_path):
    assert len(ALL_KAGGLE_COLUMNS) == 37
    table = pd.DataFrame(0.0, index=range(len(KAGGLE_ROWS)), columns=["GalaxyID", *ALL_KAGGLE_COLUMNS])
    cols = ["Class1.1", "Class1.3", "Class2.1", "Class3.1", "Class4.1", "Class8.4"]
    for i, row in enumerate(KAGGLE_ROWS):
        table.loc[i, "GalaxyID"] = row[0]
        table.loc[i, cols] = row[1:7]
    table["GalaxyID"] = table["GalaxyID"].astype(int)
    csv = tmp_path / "training_solutions_rev1.csv"
    table.to_csv(csv, index=False)
    labels = kaggle_labels(csv)
    assert list(labels["GalaxyID"]) == [str(r[0]) for r in KAGGLE_ROWS]
    assert list(labels["label"]) == [r[7] for r in KAGGLE_ROWS]
    assert [CLASS_NAMES[i] for i in labels["y"]] == [r[7] for r in KAGGLE_ROWS]


def test_kaggle_columns_cover_the_six_classes():
    assert sorted(KAGGLE_COLUMNS.values()) == sorted(CLASS_NAMES)


def test_kaggle_labels_missing_column_is_a_user_error(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("GalaxyID,Class1.1\n1,0.5\n")
    with pytest.raises(GalaxyCoreError, match="lacks the Kaggle columns"):
        kaggle_labels(csv)


@pytest.mark.parametrize(("coarse", "hubble", "ratio", "label"), [
    ("spiral", "Sb", 0.8, "Spiral"),
    ("spiral", "SBb", 0.8, "Spiral_Barred"),
    ("spiral", "SABa", 0.8, None),
    ("spiral", "Sc", 0.2, "On_Edge"),
    ("spiral", "SBc", 0.2, "On_Edge"),
    ("spiral", "Sc", 0.4, None),
    ("elliptical", "E", 0.9, "Elliptical"),
    ("irregular", "I", 0.6, "Irregular"),
    ("lenticular", "S0", 0.6, None),
])
def test_ngc_mapping(coarse, hubble, ratio, label):
    assert ngc_label(coarse, hubble, ratio) == label


def test_split_is_deterministic_and_near_fifteen_percent():
    names = [f"item{i}" for i in range(5000)]
    first = [split_of(n) for n in names]
    assert first == [split_of(n) for n in names]
    frac = np.mean([s == "val" for s in first])
    assert 0.13 < frac < 0.17
    assert [split_of(n, seed=1) for n in names] != first


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(GalaxyCoreError, match="broken.jpg"):
        read_rgb(bad)


def test_missing_data_folder_is_a_user_error(tmp_path):
    with pytest.raises(GalaxyCoreError, match="No labelled galaxy data"):
        labelled_items(tmp_path)


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "gz1" / "labels.csv").exists(), reason="../shared/data is absent")
def test_real_labelled_items_cover_all_classes():
    items = labelled_items(DATA, include_field_stars=False)
    counts = class_counts(items)
    assert list(counts.index) == list(CLASS_NAMES)
    assert (counts["train"] > 100).all() and (counts["val"] > 20).all()
    assert items["path"].map(lambda p: Path(p).exists()).all()
    assert set(items["split"]) == {"train", "val"}
