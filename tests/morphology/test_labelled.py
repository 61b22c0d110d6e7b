"""Editing a field's labels and finding them again on another run (morphology/labelled.py), and
weights read from bytes (checkpoint.from_bytes)."""

from __future__ import annotations

import io

import pytest
import torch

from galaxy_core.catalog.labels import labels_frame
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.labelled import clear_label, for_run, labels_on, not_ready, set_label
from galaxy_core.types import CLASS_NAMES, Detection


def row(n: int = 5, shift: int = 0, dx: float = 0.0) -> list[Detection]:
    """``n`` boxes in a row (ids from ``1 + shift``, centres moved by ``dx``)."""
    return [Detection(i + 1 + shift, 20 * i + dx, 0, 20 * i + 10 + dx, 10, 20 * i + 5 + dx, 5, 0.9)
            for i in range(n)]


def test_a_label_replaces_the_old_one_and_clear_removes_it():
    d = row()
    t = labels_frame([], field="f")
    t = set_label(t, d[0], "Spiral", field="f")
    t = set_label(t, d[1], "Elliptical", field="f")
    t = set_label(t, d[0], "skip", field="f")
    assert labels_on(t, d, field="f") == {1: "skip", 2: "Elliptical"}
    assert labels_on(clear_label(t, d[1], field="f"), d, field="f") == {1: "skip"}
    assert labels_on(t, d, field="another field") == {}


@pytest.mark.parametrize("dx, found", [(0.0, {11: "Spiral", 12: "Irregular"}), (1.5, {11: "Spiral", 12: "Irregular"}),
                                       (6.0, {})])
def test_another_run_finds_the_labels_by_position(dx, found):
    t = labels_frame([(row()[0], "Spiral"), (row()[1], "Irregular")], field="f")
    assert labels_on(t, row(shift=10, dx=dx), field="f") == found


def test_an_imported_table_is_repointed_at_this_run_or_refused():
    t = labels_frame([(row()[0], "Spiral"), (row()[3], "On_Edge")], field="f")
    again = for_run(t, row(shift=10), field="f")
    assert again[["id", "label"]].values.tolist() == [[11, "Spiral"], [14, "On_Edge"]]
    with pytest.raises(GalaxyCoreError, match=r"1 labelled detection\(s\) of f no longer exist \(ids 4\)"):
        for_run(t, row(3), field="f")
    with pytest.raises(GalaxyCoreError, match="holds no labels of g"):
        for_run(t, row(), field="g")


def test_not_ready_names_the_minimum_and_one_class():
    from galaxy_core.morphology.adapt import MIN_LABELS

    dets = row(MIN_LABELS + 2)
    assert f"at least {MIN_LABELS}" in not_ready(labels_frame([(d, "Spiral") for d in dets[:3]], field="f"))
    skips = labels_frame([(d, "skip") for d in dets], field="f")
    assert "you have 0" in not_ready(skips)
    assert "are Spiral" in not_ready(labels_frame([(d, "Spiral") for d in dets], field="f"))
    mixed = labels_frame([(d, CLASS_NAMES[i % 2]) for i, d in enumerate(dets)], field="f")
    assert not_ready(mixed) is None


@pytest.mark.parametrize("data", [b"", b"hello", b"PK\x03\x04" * 8])
def test_bytes_that_are_not_a_checkpoint_are_one_line(data):
    with pytest.raises(GalaxyCoreError, match="mine.pt is not a readable classifier checkpoint"):
        checkpoint.from_bytes(data, name="mine.pt")


def test_a_foreign_pickle_is_named_as_such():
    buf = io.BytesIO()
    torch.save({"weights": [1, 2]}, buf)
    with pytest.raises(GalaxyCoreError, match="not a classifier checkpoint of this tool"):
        checkpoint.from_bytes(buf.getvalue(), name="other.pt")
