"""Detections <-> a catalogue DataFrame with a fixed column order, and sky positions.

Columns, in order: ``id, x_min, y_min, x_max, y_max, x, y, score, label``, the
six class probabilities named as in CLASS_NAMES, ``ra, dec`` (degrees, ICRS;
NaN where unknown), then ``extent_px`` (the size the classifier's framing
measured, px; NaN when unclassified), ``peak_snr`` (the object's smoothed peak
over the sky noise in the rendered picture), ``morph_accuracy`` (the accuracy
measured on validation galaxies of that extent and S/N; NaN where not
measured), ``morph_reliable`` (True when the class can be trusted: large
enough and, where measured, bright enough, by the classifier's own rule; see
:mod:`galaxy_core.morphology.reliability`), ``detector_label`` (the detector's
own label, ``galaxy``/``star``/``object``, of a classified detection; empty
otherwise) and ``class_precision`` (the network that classified it: ``float32``,
or ``int8`` for objects too small to be trusted, :mod:`galaxy_core.morphology.int8`;
empty when unclassified).  Pixel columns are 0-based (see galaxy_core.types).

>>> from galaxy_core.types import Detection
>>> df = to_frame([Detection(1, 0, 0, 4, 4, 2, 2, 0.9)])
>>> list(df.columns[:9])
['id', 'x_min', 'y_min', 'x_max', 'y_max', 'x', 'y', 'score', 'label']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from galaxy_core.types import CLASS_NAMES, Detection

BOX_COLUMNS = ("id", "x_min", "y_min", "x_max", "y_max", "x", "y", "score", "label")
SKY_COLUMNS = ("ra", "dec")
SIZE_COLUMNS = ("extent_px", "peak_snr", "morph_accuracy", "morph_reliable")
DETECTOR_COLUMNS = ("detector_label", "class_precision")
COLUMNS: tuple[str, ...] = BOX_COLUMNS + CLASS_NAMES + SKY_COLUMNS + SIZE_COLUMNS + DETECTOR_COLUMNS

#: Units of each numeric column, for FITS/ECSV exports.
UNITS = {
    "x_min": "pix", "y_min": "pix", "x_max": "pix", "y_max": "pix",
    "x": "pix", "y": "pix", "ra": "deg", "dec": "deg", "extent_px": "pix",
}


def to_frame(detections: Sequence[Detection]) -> pd.DataFrame:
    """The catalogue of ``detections`` (an empty frame with all columns when empty)."""
    rows = []
    for d in detections:
        probs = d.probs if d.probs is not None else (np.nan,) * len(CLASS_NAMES)
        size = [np.nan if v is None or d.probs is None else v
                for v in (d.extent_px, d.peak_snr, d.morph_accuracy)]
        rows.append(
            (d.id, d.x_min, d.y_min, d.x_max, d.y_max, d.x, d.y, d.score, d.label, *probs,
             np.nan if d.ra is None else d.ra, np.nan if d.dec is None else d.dec,
             *size, bool(d.morph_reliable), d.detector_label or "", d.class_precision or "")
        )
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    text = ("id", "label", "morph_reliable", "detector_label", "class_precision")
    df = df.astype({c: "float64" for c in COLUMNS if c not in text})
    return df.astype({"id": "int64", "label": "str", "morph_reliable": "bool",
                      "detector_label": "str", "class_precision": "str"})


def from_frame(df: pd.DataFrame) -> list[Detection]:
    """The detections of a catalogue made by :func:`to_frame`."""
    out = []
    for rec in df.to_dict("records"):
        values = [rec[name] for name in CLASS_NAMES]
        probs = None if any(pd.isna(v) for v in values) else tuple(float(v) for v in values)
        out.append(
            Detection(
                id=int(rec["id"]), x_min=float(rec["x_min"]), y_min=float(rec["y_min"]),
                x_max=float(rec["x_max"]), y_max=float(rec["y_max"]), x=float(rec["x"]),
                y=float(rec["y"]), score=float(rec["score"]), label=str(rec["label"]), probs=probs,
                ra=None if pd.isna(rec["ra"]) else float(rec["ra"]),
                dec=None if pd.isna(rec["dec"]) else float(rec["dec"]),
                **{k: None if pd.isna(rec.get(k, np.nan)) else float(rec[k])
                   for k in ("extent_px", "peak_snr", "morph_accuracy")},
                detector_label=_text_or_none(rec.get("detector_label")),
                class_precision=_text_or_none(rec.get("class_precision")),
                morph_reliable=bool(rec["morph_reliable"]) if probs is not None else None,
            )
        )
    return out


def _text_or_none(value) -> str | None:
    """A catalogue text cell: None where empty or missing."""
    return None if value is None or pd.isna(value) or str(value) == "" else str(value)
