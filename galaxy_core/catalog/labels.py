"""A researcher's labels of detections (or cutout files) as a table: made, exported, read back.

One row per labelled object.  Columns, in order:

==================  ===========================================================================
``field``           the field's name (:attr:`Field.name`) or path, or ``demo:xdf``; empty for a cutout
``id``              the detection's number in its run (-1 for a cutout file)
``path``            a cutout file (one galaxy per picture); empty for a detection
``x``, ``y``        the detection's centre, field px (0-based, as the catalogue)
``x_min`` .. ``y_max``  its box, field px
``ra``, ``dec``     sky position, degrees (NaN where the field has no WCS)
``label``           the researcher's class: one of CLASS_NAMES, or ``skip`` (looked at, not labelled)
``classifier_label``  the classifier's class when the label was given (empty if unknown)
six class columns   the classifier's probabilities then (CLASS_NAMES order; NaN if unknown)
==================  ===========================================================================

:func:`read_labels` accepts any table with ``label`` and either ``path`` or
``field`` + ``id`` (a minimal hand-made CSV); missing columns are filled in.

>>> from galaxy_core.types import Detection
>>> d = Detection(3, 10, 10, 20, 20, 15, 15, 0.9)
>>> labels_frame([(d, "Elliptical")], field="xdf")[["field", "id", "label"]].values.tolist()
[['xdf', 3, 'Elliptical']]
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import CLASS_NAMES, Detection

#: The label that says "looked at, not labelled": kept in the table, never trained on.
SKIP = "skip"
#: Every value the ``label`` column may hold.
LABEL_VALUES: tuple[str, ...] = (*CLASS_NAMES, SKIP)
BOX = ("x_min", "y_min", "x_max", "y_max")
LABEL_COLUMNS: tuple[str, ...] = ("field", "id", "path", "x", "y", *BOX, "ra", "dec", "label",
                                  "classifier_label", *CLASS_NAMES)
TEXT_COLUMNS = ("field", "path", "label", "classifier_label")
UNITS = {"x": "pix", "y": "pix", "x_min": "pix", "y_min": "pix", "x_max": "pix", "y_max": "pix",
         "ra": "deg", "dec": "deg"}
#: File formats by suffix.
FORMATS = {".csv": "csv", ".ecsv": "ecsv"}


def labels_frame(labelled: Iterable[tuple[Detection, str]], *, field: str) -> pd.DataFrame:
    """The label table of ``(detection, label)`` pairs of one field (what the app exports).

    The detection's own class and probabilities (when classified) are kept as
    the classifier's call at the time.
    """
    rows = []
    for d, label in labelled:
        probs = d.probs if d.probs is not None else (np.nan,) * len(CLASS_NAMES)
        rows.append({"field": field, "id": d.id, "path": "", "x": d.x, "y": d.y,
                     **{k: getattr(d, k) for k in BOX},
                     "ra": np.nan if d.ra is None else d.ra, "dec": np.nan if d.dec is None else d.dec,
                     "label": label, "classifier_label": d.label if d.probs is not None else "",
                     **dict(zip(CLASS_NAMES, probs, strict=True))})
    return normalise(pd.DataFrame(rows, columns=list(LABEL_COLUMNS)))


def cutout_labels_frame(paths: Iterable[str | Path], labels: Iterable[str]) -> pd.DataFrame:
    """The label table of cutout files (one galaxy per picture) and their labels."""
    df = pd.DataFrame({"path": [str(p) for p in paths], "label": list(labels)})
    return normalise(df)


def normalise(df: pd.DataFrame, *, source: str = "the label table") -> pd.DataFrame:
    """Every column of :data:`LABEL_COLUMNS` in order, typed, labels checked.

    Raises:
        GalaxyCoreError: no ``label`` column, rows that name neither a file nor a
            detection, or labels that are not a class (the message lists them).
    """
    if "label" not in df.columns:
        raise GalaxyCoreError(f"{source} has no 'label' column (columns: {', '.join(map(str, df.columns))}).")
    out = pd.DataFrame(index=df.index)
    for col in LABEL_COLUMNS:
        if col in df.columns:
            out[col] = df[col]
        else:
            out[col] = "" if col in TEXT_COLUMNS else (-1 if col == "id" else np.nan)
    for col in TEXT_COLUMNS:
        out[col] = out[col].map(_text)
    out["label"] = [_class_name(v) for v in out["label"]]
    _check_labels(out, source)
    out["id"] = pd.to_numeric(out["id"], errors="coerce").fillna(-1).astype("int64")
    numeric = [c for c in LABEL_COLUMNS if c not in (*TEXT_COLUMNS, "id")]
    out[numeric] = out[numeric].apply(pd.to_numeric, errors="coerce").astype("float64")
    _check_targets(out, source)
    return out.reset_index(drop=True)


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


_BY_LOWER = {v.lower(): v for v in LABEL_VALUES}


def _class_name(value: str) -> str:
    """A label written in any case (``elliptical``) as the class's own spelling."""
    return _BY_LOWER.get(value.lower(), value)


def _check_labels(df: pd.DataFrame, source: str) -> None:
    unknown = sorted(set(df["label"]) - set(LABEL_VALUES))
    if unknown:
        rows = [i + 1 for i, v in enumerate(df["label"]) if v not in LABEL_VALUES][:5]
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise GalaxyCoreError(f"{source} has labels that are not a class: {shown} (rows {rows}); "
                              f"use one of {', '.join(LABEL_VALUES)}.")


def _check_targets(df: pd.DataFrame, source: str) -> None:
    bad = np.flatnonzero((df["path"] == "") & ((df["field"] == "") | (df["id"] < 0)))
    if len(bad):
        raise GalaxyCoreError(f"{source}: rows {[int(i) + 1 for i in bad[:5]]} name neither a cutout "
                              "file ('path') nor a detection ('field' and 'id').")


def labels_bytes(df: pd.DataFrame, fmt: str = "csv", *, meta: dict | None = None) -> bytes:
    """The label table as CSV or ECSV (``meta``: header keywords, ECSV only)."""
    df = normalise(df)
    if fmt == "csv":
        return df.to_csv(index=False).encode()
    if fmt == "ecsv":
        from astropy.table import Table

        table = Table.from_pandas(df)
        for name, unit in UNITS.items():
            table[name].unit = unit
        table.meta.update(meta or {})
        buf = io.StringIO()
        table.write(buf, format="ascii.ecsv")
        return buf.getvalue().encode()
    raise GalaxyCoreError(f"Unknown label table format {fmt!r}; use csv or ecsv.")


def format_of(path: str | Path) -> str:
    """``csv`` or ``ecsv`` from a file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GalaxyCoreError(f"A label table is .csv or .ecsv, not {Path(path).name!r}.")
    return FORMATS[suffix]


def write_labels(df: pd.DataFrame, path: str | Path, *, meta: dict | None = None) -> Path:
    """Write the table (format by suffix) through a temporary file."""
    from galaxy_core.io.atomic import atomic_write

    path = Path(path)
    data = labels_bytes(df, format_of(path), meta=meta)
    with atomic_write(path) as fh:
        fh.write(data)
    return path


def read_labels(path: str | Path) -> pd.DataFrame:
    """A label table from a .csv or .ecsv file, normalised (:func:`normalise`).

    Raises:
        GalaxyCoreError: a missing or unreadable file, or a table that is not labels.
    """
    path = Path(path)
    fmt = format_of(path)
    if not path.is_file():
        raise GalaxyCoreError(f"No such label table: {path}")
    return labels_from_bytes(path.read_bytes(), fmt, name=path.name)


def labels_from_bytes(data: bytes, fmt: str, *, name: str = "the label table") -> pd.DataFrame:
    """A label table from a file's bytes (an upload), ``fmt`` ``csv`` or ``ecsv``, normalised."""
    try:
        if fmt == "csv":
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        elif fmt == "ecsv":
            from astropy.table import Table

            df = Table.read(data.decode(), format="ascii.ecsv").to_pandas()
        else:
            raise GalaxyCoreError(f"Unknown label table format {fmt!r}; use csv or ecsv.")
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise GalaxyCoreError(f"Cannot read the label table {name}: {err}") from err
    return normalise(df, source=f"'{name}'")


def trainable(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that teach something: every label but :data:`SKIP`."""
    return df[df["label"] != SKIP].reset_index(drop=True)


def class_counts(df: pd.DataFrame) -> dict[str, int]:
    """Labels per class (CLASS_NAMES order; ``skip`` left out)."""
    return {c: int((df["label"] == c).sum()) for c in CLASS_NAMES}
