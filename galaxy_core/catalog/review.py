"""Pure functions on the catalogue DataFrame (galaxy_core.catalog.table.to_frame) for review.

Filtering by score and class, per-row uncertainty of the six class
probabilities, and an "uncertain first" order so a reviewer sees the
classifier's hardest calls first.

Uncertainty measures (NaN for an unclassified row):

- ``margin``: top probability minus the runner-up, in [0, 1]; small is uncertain.
- ``entropy``: Shannon entropy of the six probabilities divided by ln 6, in
  [0, 1]; large is uncertain.

>>> import pandas as pd
>>> df = pd.DataFrame({"id": [1, 2], "score": [0.9, 0.4], "label": ["Spiral", "Elliptical"],
...                    "Spiral": [0.9, 0.4], "Spiral_Barred": [0.1, 0.0], "Elliptical": [0.0, 0.5],
...                    "On_Edge": [0.0, 0.1], "Irregular": [0.0, 0.0], "Star/Artifact": [0.0, 0.0]})
>>> list(uncertain_first(df)["id"])
[2, 1]
>>> list(filter_catalog(df, min_score=0.5)["id"])
[1]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import CLASS_NAMES

UNCERTAINTY_MEASURES = ("margin", "entropy")


def probabilities(df: pd.DataFrame) -> np.ndarray:
    """The (N, 6) class probabilities in CLASS_NAMES order (NaN rows when unclassified)."""
    missing = [c for c in CLASS_NAMES if c not in df.columns]
    if missing:
        return np.full((len(df), len(CLASS_NAMES)), np.nan)
    return df[list(CLASS_NAMES)].to_numpy(dtype=float)


def is_classified(df: pd.DataFrame) -> pd.Series:
    """True for rows that carry the six probabilities."""
    return pd.Series(np.isfinite(probabilities(df)).all(axis=1), index=df.index)


def filter_catalog(df: pd.DataFrame, *, min_score: float = 0.0,
                   classes: Iterable[str] | None = None, reliable_only: bool = False) -> pd.DataFrame:
    """Rows with ``score >= min_score`` whose ``label`` is in ``classes`` (all when None).

    Labels are compared as written, so an unclassified ``"object"`` is kept
    only when ``"object"`` is among ``classes``.  ``reliable_only`` keeps only
    rows whose ``morph_reliable`` is True (classified, large and bright enough for
    morphology, :mod:`galaxy_core.morphology.reliability`).
    """
    if not 0.0 <= float(min_score) <= 1.0:
        raise GalaxyCoreError(f"The score threshold must be in [0, 1], got {min_score}.")
    keep = df["score"].to_numpy(dtype=float) >= float(min_score)
    if classes is not None:
        keep &= df["label"].isin(list(classes)).to_numpy()
    if reliable_only:
        keep &= df["morph_reliable"].to_numpy(dtype=bool)
    return df.loc[keep]


def too_small_for_morphology(df: pd.DataFrame) -> tuple[int, int]:
    """(classified rows whose ``morph_reliable`` is False, classified rows)."""
    classified = is_classified(df).to_numpy()
    reliable = df["morph_reliable"].to_numpy(dtype=bool)
    return int((classified & ~reliable).sum()), int(classified.sum())


def margin(df: pd.DataFrame) -> pd.Series:
    """Top probability minus the runner-up for each row, in [0, 1]; NaN when unclassified."""
    p = probabilities(df)
    if p.shape[0] == 0:
        return pd.Series([], index=df.index, dtype=float)
    top2 = -np.sort(-p, axis=1)[:, :2]
    return pd.Series(top2[:, 0] - top2[:, 1], index=df.index)


def entropy(df: pd.DataFrame) -> pd.Series:
    """Shannon entropy of each row's probabilities over ln 6, in [0, 1]; NaN when unclassified."""
    p = probabilities(df)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    h = terms.sum(axis=1) / np.log(len(CLASS_NAMES))
    h[~np.isfinite(p).all(axis=1)] = np.nan
    return pd.Series(h, index=df.index)


def uncertainty(df: pd.DataFrame, *, by: str = "margin") -> pd.Series:
    """An uncertainty in [0, 1] where larger is less certain: ``1 - margin`` or ``entropy``."""
    if by == "margin":
        return 1.0 - margin(df)
    if by == "entropy":
        return entropy(df)
    raise GalaxyCoreError(f"Unknown uncertainty measure {by!r}; use one of {UNCERTAINTY_MEASURES}.")


def uncertain_first(df: pd.DataFrame, *, by: str = "margin") -> pd.DataFrame:
    """The rows most uncertain first (stable), unclassified rows after them by ascending score.

    Without any classified row (e.g. the sep baseline) this is simply the
    lowest detection scores first.
    """
    u = uncertainty(df, by=by).to_numpy(dtype=float)
    classified = np.isfinite(u)
    score = df["score"].to_numpy(dtype=float)
    # lexsort sorts by the last key first: classified before unclassified, then
    # uncertainty descending, then score ascending.
    order = np.lexsort((score, -np.nan_to_num(u, nan=0.0), ~classified))
    return df.iloc[order]


def top_classes(df: pd.DataFrame, *, k: int = 2) -> pd.Series:
    """Text like ``"Spiral 0.81, Elliptical 0.12"``: each row's ``k`` most probable classes."""
    p = probabilities(df)
    out = []
    for row in p:
        if not np.isfinite(row).all():
            out.append("unclassified")
            continue
        best = np.argsort(-row)[:k]
        out.append(", ".join(f"{CLASS_NAMES[i]} {row[i]:.2f}" for i in best))
    return pd.Series(out, index=df.index, dtype=object)
