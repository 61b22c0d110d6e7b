"""Which detections' classes to believe, and which to look at first.

The classifier returns six probabilities for any crop, even a blob of five
pixels; its own :class:`~galaxy_core.morphology.reliability.ReliabilityRule`
(size x S/N, stored with the weights) says where its classes mean something
and is written into the catalogue's ``morph_reliable`` column.  A viewer that
colours every detection by its most probable class shows mostly noise on a
deep field (1,755 of 1,784 XDF detections fail the rule), so:

- :func:`display_groups` names the group each row is drawn in: its class where
  the class is trusted, :data:`UNTRUSTED` where it was classified but fails the
  rule, :data:`PENDING` while a run is still classifying, else the detector's
  own label.  A star label from the detector is trusted whatever its size (the
  label is the detector's, not the classifier's).
- :func:`review_order` puts the trusted detections first, most uncertain first,
  then the untrusted ones the same way, then the unclassified ones by score.
  Its uncertainty is the normalised entropy of the six probabilities, which
  varies where ``1 - margin`` sits at 1.00 for many near-ties.

>>> import pandas as pd
>>> from galaxy_core.catalog.table import to_frame
>>> from galaxy_core.types import Detection
>>> p = (0.7, 0.1, 0.1, 0.05, 0.05, 0.0)
>>> df = to_frame([Detection(1, 0, 0, 40, 40, 20, 20, 0.9, "Spiral", p, morph_reliable=True),
...                Detection(2, 0, 0, 5, 5, 2, 2, 0.8, "Spiral", p, morph_reliable=False),
...                Detection(3, 0, 0, 5, 5, 2, 2, 0.7, "galaxy")])
>>> display_groups(df).tolist()
['Spiral', 'unclassified (too small / faint)', 'galaxy']
>>> review_order(df)["id"].tolist()
[1, 2, 3]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from galaxy_core.catalog.review import entropy, is_classified
from galaxy_core.types import CLASS_NAMES

#: The group of classified detections whose class fails the classifier's reliability rule.
UNTRUSTED = "unclassified (too small / faint)"
#: The group of detections a running classification has not reached yet.
PENDING = "awaiting its class"


def trusted(df: pd.DataFrame) -> pd.Series:
    """True where the row's class can be believed: classified and ``morph_reliable``, or a
    star the detector labelled (``detector_label == "star"``)."""
    classified = is_classified(df).to_numpy()
    reliable = df["morph_reliable"].to_numpy(dtype=bool) if "morph_reliable" in df else np.zeros(len(df), bool)
    star = (df["detector_label"].astype(str).to_numpy() == "star") if "detector_label" in df \
        else np.zeros(len(df), bool)
    return pd.Series(classified & (reliable | star), index=df.index)


def display_groups(df: pd.DataFrame, *, honest: bool = True, classifying: bool = False) -> pd.Series:
    """The group each row is drawn and filtered in.

    Args:
        honest: classified rows failing the reliability rule go to :data:`UNTRUSTED`
            (False: every classified row keeps its class).
        classifying: the run is still classifying, so its unclassified rows are
            :data:`PENDING` rather than detector-only detections.
    """
    groups = df["label"].astype(str).to_numpy(dtype=object).copy()
    classified = is_classified(df).to_numpy()
    if honest:
        groups[classified & ~trusted(df).to_numpy()] = UNTRUSTED
    if classifying:
        groups[~classified] = PENDING
    return pd.Series(groups, index=df.index, dtype=object)


def group_order(groups) -> list[str]:
    """The groups present, classes in CLASS_NAMES order, then the detector's labels sorted,
    then :data:`UNTRUSTED` and :data:`PENDING`."""
    present = set(groups)
    tail = [g for g in (UNTRUSTED, PENDING) if g in present]
    return ([c for c in CLASS_NAMES if c in present]
            + sorted(present - set(CLASS_NAMES) - {UNTRUSTED, PENDING}) + tail)


def uncertainty(df: pd.DataFrame) -> pd.Series:
    """The classifier's uncertainty of each row in [0, 1]: the entropy of its six probabilities
    over ln 6 (0: one class certain, 1: all equal); NaN when unclassified."""
    return entropy(df)


def review_order(df: pd.DataFrame) -> pd.DataFrame:
    """Trusted rows first, most uncertain first; then the untrusted classified rows likewise;
    then the unclassified rows by ascending score (stable)."""
    u = uncertainty(df).to_numpy(dtype=float)
    tier = np.where(trusted(df).to_numpy(), 0, np.where(np.isfinite(u), 1, 2))
    score = df["score"].to_numpy(dtype=float)
    order = np.lexsort((score, -np.nan_to_num(u, nan=0.0), tier))
    return df.iloc[order]
