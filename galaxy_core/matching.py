"""Matching detections to a truth catalogue: completeness and purity.

A detection matches a truth object when its centre is within
``max(min_radius, radius_factor * re)`` pixels of the object's centre; pairs are
taken closest first and each side is used once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galaxy_core.types import Detection


@dataclass(frozen=True)
class MatchResult:
    """Index pairs of a one-to-one match and the counts behind the rates."""

    truth_index: np.ndarray
    detection_index: np.ndarray
    n_truth: int
    n_detections: int

    @property
    def completeness(self) -> float:
        """Fraction of truth objects found (recall)."""
        return len(self.truth_index) / self.n_truth if self.n_truth else float("nan")

    @property
    def purity(self) -> float:
        """Fraction of detections that are real objects (precision)."""
        return len(self.detection_index) / self.n_detections if self.n_detections else float("nan")


def match(detections: Sequence[Detection], truth: pd.DataFrame, *, min_radius: float = 3.0,
          radius_factor: float = 1.0) -> MatchResult:
    """One-to-one closest-first match of detections to truth rows (columns x, y, re)."""
    n_t, n_d = len(truth), len(detections)
    if n_t == 0 or n_d == 0:
        empty = np.array([], dtype=int)
        return MatchResult(empty, empty, n_t, n_d)
    tx, ty = truth["x"].to_numpy(float), truth["y"].to_numpy(float)
    radius = np.maximum(min_radius, radius_factor * truth["re"].to_numpy(float))
    dx = np.array([d.x for d in detections])
    dy = np.array([d.y for d in detections])
    dist = np.hypot(tx[:, None] - dx[None, :], ty[:, None] - dy[None, :])
    ti, di = np.nonzero(dist <= radius[:, None])
    order = np.argsort(dist[ti, di], kind="stable")
    used_t, used_d, pairs = set(), set(), []
    for k in order:
        t, d = int(ti[k]), int(di[k])
        if t not in used_t and d not in used_d:
            used_t.add(t)
            used_d.add(d)
            pairs.append((t, d))
    pairs_arr = np.array(pairs, dtype=int).reshape(-1, 2)
    return MatchResult(pairs_arr[:, 0], pairs_arr[:, 1], n_t, n_d)


def completeness_by_snr(result: MatchResult, truth: pd.DataFrame,
                        edges: Sequence[float] = (0, 3, 5, 10, 20, 50, 100, np.inf)) -> pd.DataFrame:
    """Completeness per S/N bin: columns snr_lo, snr_hi, n, found, completeness."""
    found = np.zeros(len(truth), dtype=bool)
    found[result.truth_index] = True
    snr = truth["snr"].to_numpy(float)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (snr >= lo) & (snr < hi)
        n = int(sel.sum())
        rows.append(dict(snr_lo=lo, snr_hi=hi, n=n, found=int(found[sel].sum()),
                         completeness=found[sel].mean() if n else float("nan")))
    return pd.DataFrame(rows)
