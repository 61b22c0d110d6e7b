"""Labelled objects as the classifier sees them: a label table's rows turned into framed crops.

A detection is framed from its rendered field exactly as the run classified it
(:func:`~galaxy_core.morphology.framing.frame_detection`, the run's other boxes
left out of its segment); a cutout file is framed as ``classify`` frames it
(:meth:`Classifier.frame`).  Rows labelled ``skip`` are left out.

>>> crops = crops_from_run(table, result.rgb, result.detections, classifier)   # doctest: +SKIP
>>> crops.crops.shape, crops.labels[:3]                                         # doctest: +SKIP
((120, 96, 96, 3), array([2, 0, 2]))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_core.catalog.labels import labels_frame, normalise, trainable
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import CLASS_INDEX, CLASS_NAMES, Detection

#: Furthest a detection's centre may lie from a label's (x, y) and still be that object:
#: this many px, or a quarter of the box's longer side if that is more.
MATCH_PX = 2.0


@dataclass(frozen=True, eq=False)
class LabelledCrops:
    """Framed crops with the researcher's labels.

    Attributes:
        crops: uint8 (N, S, S, 3), framed at the classifier's input size S.
        labels: int (N,), indices into CLASS_NAMES.
        keys: (N,) one name per object (``field#id`` or the file's path), for messages and folds.
        base_probs: (N, 6) the classifier's probabilities stored in the table (NaN where absent).
    """

    crops: np.ndarray
    labels: np.ndarray
    keys: tuple[str, ...]
    base_probs: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.labels)
        if len(self.crops) != n or len(self.keys) != n or len(self.base_probs) != n:
            raise GalaxyCoreError("Labelled crops, labels and keys differ in number.")

    def __len__(self) -> int:
        return len(self.labels)

    @staticmethod
    def concat(parts: Sequence[LabelledCrops]) -> LabelledCrops:
        """One set of several (e.g. one per field)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            raise GalaxyCoreError("No labelled objects to adapt on (every row is 'skip'?).")
        return LabelledCrops(np.concatenate([p.crops for p in parts]),
                             np.concatenate([p.labels for p in parts]),
                             tuple(k for p in parts for k in p.keys),
                             np.concatenate([p.base_probs for p in parts]))


def _made(rows: pd.DataFrame, crops: list[np.ndarray], keys: list[str], size: int) -> LabelledCrops:
    stack = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    probs = rows[list(CLASS_NAMES)].to_numpy(dtype=float).reshape(-1, len(CLASS_NAMES))
    return LabelledCrops(stack, rows["label"].map(CLASS_INDEX).to_numpy(dtype=int), tuple(keys), probs)


def locate(rows: pd.DataFrame, detections: Sequence[Detection]) -> list[Detection | None]:
    """The detection each row labels, None where none lies there.

    A row with (x, y) takes the nearest detection whose centre lies within
    :data:`MATCH_PX` (or a quarter of its box's longer side) of it; a row
    without a position takes the detection of its id.
    """
    centres = np.array([(d.x, d.y) for d in detections], dtype=float).reshape(-1, 2)
    by_id = {d.id: d for d in detections}
    found: list[Detection | None] = []
    for row in rows.itertuples(index=False):
        if np.isfinite(row.x) and np.isfinite(row.y) and len(detections):
            dist = np.hypot(centres[:, 0] - row.x, centres[:, 1] - row.y)
            i = int(np.argmin(dist))
            d = detections[i]
            found.append(d if dist[i] <= max(MATCH_PX, 0.25 * max(d.width, d.height)) else None)
        else:
            found.append(by_id.get(int(row.id)))
    return found


def match_detections(rows: pd.DataFrame, detections: Sequence[Detection], *,
                     field: str = "the field") -> list[Detection]:
    """The detection each row labels: by position when the row has one, else by id
    (:func:`locate`; ids change when a field is detected again, positions do not).

    Raises:
        GalaxyCoreError: labels whose detection no longer exists (the ids are listed).
    """
    found = locate(rows, detections)
    missing = [int(i) for i, d in zip(rows["id"], found, strict=True) if d is None]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise GalaxyCoreError(
            f"{len(missing)} labelled detection(s) of {field} no longer exist (ids {shown}): "
            "detect the field with the settings the labels were made with, or drop those rows.")
    return found  # type: ignore[return-value]


def labels_on(table: pd.DataFrame, detections: Sequence[Detection], *, field: str) -> dict[int, str]:
    """The label of each labelled detection of this run (by its id), the rows of ``field``
    found by position; rows whose detection this run lacks are left out."""
    rows = table[(table["field"] == field) & (table["path"] == "")]
    return {d.id: label for d, label in zip(locate(rows, detections), rows["label"], strict=True)
            if d is not None}


def set_label(table: pd.DataFrame, d: Detection, label: str, *, field: str) -> pd.DataFrame:
    """The table with ``d`` labelled ``label`` (one of LABEL_VALUES), its former label replaced;
    the detection's class and probabilities now are kept as the classifier's call."""
    return pd.concat([clear_label(table, d, field=field), labels_frame([(d, label)], field=field)],
                     ignore_index=True)


def clear_label(table: pd.DataFrame, d: Detection, *, field: str) -> pd.DataFrame:
    """The table without the label of ``d`` (a row of ``field`` at its position)."""
    mine = (table["field"] == field) & (table["path"] == "")
    hit = np.zeros(len(table), bool)
    hit[np.flatnonzero(mine)] = [x is not None for x in locate(table[mine], [d])]
    return table[~hit].reset_index(drop=True)


def for_run(table: pd.DataFrame, detections: Sequence[Detection], *, field: str,
            source: str = "the label table") -> pd.DataFrame:
    """The rows of ``field`` re-pointed at this run's detections (ids and positions theirs),
    the classifier's call at labelling time kept (an imported table's check).

    Raises:
        GalaxyCoreError: no rows of ``field``, or labelled detections this run lacks.
    """
    rows = table[(table["field"] == field) & (table["path"] == "")].reset_index(drop=True)
    if rows.empty:
        named = sorted(set(table["field"]) - {""})
        raise GalaxyCoreError(f"{source} holds no labels of {field}"
                              + (f" (it labels {', '.join(named[:5])})." if named else "."))
    matched = match_detections(rows, detections, field=field)
    ours = labels_frame([(d, "skip") for d in matched], field=field)
    kept = ["label", "classifier_label", *CLASS_NAMES]
    ours[kept] = rows[kept].to_numpy(object)
    return normalise(ours, source=source)


def not_ready(table: pd.DataFrame) -> str | None:
    """Why these labels cannot adapt the classifier yet (too few, one class), else None;
    the same rules as :func:`galaxy_core.morphology.adapt.unique_objects`."""
    from galaxy_core.morphology.adapt import MIN_LABELS

    rows = trainable(table)
    if len(rows) < MIN_LABELS:
        return (f"Adaptation needs at least {MIN_LABELS} labelled objects; you have {len(rows)} "
                f"({MIN_LABELS - len(rows)} to go; 'skip' does not count).")
    classes = sorted(set(rows["label"]))
    if len(classes) < 2:
        return (f"All {len(rows)} labels are {classes[0]}: label objects of at least two classes, "
                "or the head learns only to say that one.")
    return None


def crops_from_run(labels: pd.DataFrame, rgb: np.ndarray, detections: Sequence[Detection],
                   classifier, *, field: str | None = None) -> LabelledCrops:
    """The framed crops of the labelled detections of one run (rendered field ``rgb``).

    Args:
        labels: a label table (:mod:`galaxy_core.catalog.labels`); only detection rows
            (of ``field``, when given) are used, ``skip`` rows left out.
        rgb: the rendered field the run classified, uint8 (H, W, 3).
        detections: the run's detections (all of them: their boxes frame each crop).
        classifier: a :class:`~galaxy_core.morphology.classifier.Classifier` (framing, input size).
        field: the field's name in the table (None: every detection row).
    """
    from galaxy_core.morphology.framing import detection_boxes, frame_detection

    rows = trainable(labels)
    rows = rows[rows["path"] == ""]
    if field is not None:
        rows = rows[rows["field"] == field]
    matched = match_detections(rows, detections, field=repr(field) if field else "the field")
    boxes = detection_boxes(detections)
    crops = [frame_detection(rgb, d, classifier.input_size, settings=classifier.framing,
                             others=boxes).crop for d in matched]
    keys = [f"{r.field}#{d.id}" for r, d in zip(rows.itertuples(), matched, strict=True)]
    return _made(rows, crops, keys, classifier.input_size)


def crops_from_files(labels: pd.DataFrame, classifier, *, root: str | Path = ".") -> LabelledCrops:
    """The framed crops of the labelled cutout files (``path`` rows; relative to ``root``).

    Raises:
        GalaxyCoreError: a file that is missing or not a picture (named).
    """
    from galaxy_core.io.picture import read_rgb

    rows = trainable(labels)
    rows = rows[rows["path"] != ""]
    crops, keys = [], []
    for p in rows["path"]:
        path = Path(p) if Path(p).is_absolute() else Path(root) / p
        if not path.is_file():
            raise GalaxyCoreError(f"The labelled cutout {p!r} does not exist (looked in {path.parent}).")
        crops.append(classifier.frame(read_rgb(path)))
        keys.append(str(p))
    return _made(rows, crops, keys, classifier.input_size)
