"""Matching detections to a truth catalogue: completeness, purity and AP.

Two kinds of match:

- by centre (:func:`match`): a detection matches a truth object when its
  centre is within ``max(min_radius, radius_factor * re)`` px of the object's
  centre; pairs are taken closest first and each side is used once.
- by box (:func:`match_boxes`, :func:`evaluate_boxes`): greedy, highest score
  first, as in the PASCAL VOC / COCO evaluation; a prediction takes the best
  free truth box with IoU >= 0.5 ("iou"), or, in the lenient "centre" mode,
  one whose centre lies in the prediction's box and vice versa.  Predictions
  that match an undetectable truth object are ignored (neither true nor
  false), so a detector is not punished for finding faint real objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galaxy_core.detection.boxes import candidate_pairs, overlapping_pairs
from galaxy_core.types import Detection

BOX_COLUMNS = ["x_min", "y_min", "x_max", "y_max"]


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


def points_in_boxes(xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(len(boxes), len(xy)) True where point ``xy[j]`` (x, y px) lies in ``boxes[i]`` (edges included).

    Boxes are (N, 4) arrays of x_min, y_min, x_max, y_max in px.
    """
    xy, boxes = np.asarray(xy, float).reshape(-1, 2), np.asarray(boxes, float).reshape(-1, 4)
    return ((xy[None, :, 0] >= boxes[:, None, 0]) & (xy[None, :, 0] <= boxes[:, None, 2])
            & (xy[None, :, 1] >= boxes[:, None, 1]) & (xy[None, :, 1] <= boxes[:, None, 3]))


def centres_and_snr(detections: Sequence[Detection]) -> tuple[np.ndarray, np.ndarray]:
    """(M, 2) centres x, y in px and (M,) S/N of detections (0 where none was measured)."""
    xy = np.array([(d.x, d.y) for d in detections], float).reshape(-1, 2)
    snr = np.array([d.snr if d.snr is not None else 0.0 for d in detections], float)
    return xy, snr


def points_covered(xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(M,) True where point ``xy[j]`` (x, y px) lies in some box (edges included); sparse."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    eps = 1e-9  # a point as a tiny box, so that edges count as inside
    points = np.c_[xy - eps, xy + eps]
    j, i = candidate_pairs(points, boxes)
    out = np.zeros(len(xy), dtype=bool)
    out[j[_inside(xy[j], boxes[i])]] = True
    return out


def coverage(boxes: np.ndarray, xy: np.ndarray, snr: np.ndarray, *,
             min_snr: float = 10.0) -> tuple[int, int]:
    """(found, total): how many of the sources with S/N > ``min_snr`` lie inside some box.

    ``boxes`` (N, 4) x_min, y_min, x_max, y_max px; ``xy`` (M, 2) source centres px;
    ``snr`` (M,) their S/N (e.g. sep's, for a completeness check against the baseline).
    """
    strong = np.asarray(snr, float).reshape(-1) > min_snr
    xy = np.asarray(xy, float).reshape(-1, 2)[strong]
    return int(points_covered(xy, boxes).sum()), int(strong.sum())


def match_boxes(pred: np.ndarray, scores: np.ndarray, truth: np.ndarray, *, mode: str = "iou",
                min_iou: float = 0.5) -> np.ndarray:
    """Greedy, best score first: the index of the truth box each prediction takes, or -1.

    Only overlapping pairs are compared (:func:`~galaxy_core.detection.boxes.overlapping_pairs`),
    so scoring a mosaic's boxes needs no all-pairs matrix.

    Args:
        pred, truth: (N, 4) and (M, 4) boxes, x_min, y_min, x_max, y_max (px).
        scores: (N,) prediction confidences.
        mode: ``"iou"`` (IoU >= ``min_iou``) or ``"centre"`` (centres inside each other's box).
    """
    pred, truth = np.asarray(pred, float).reshape(-1, 4), np.asarray(truth, float).reshape(-1, 4)
    if mode not in ("iou", "centre"):
        raise ValueError(f"mode must be 'iou' or 'centre', got {mode!r}")
    out = np.full(len(pred), -1)
    if len(pred) == 0 or len(truth) == 0:
        return out
    rows, cols, iou = overlapping_pairs(pred, truth)
    if mode == "iou":
        ok, quality = iou >= min_iou, iou
    else:
        pc = (pred[rows, :2] + pred[rows, 2:]) / 2
        tc = (truth[cols, :2] + truth[cols, 2:]) / 2
        ok = _inside(pc, truth[cols]) & _inside(tc, pred[rows])
        quality = iou + ok
    starts = np.searchsorted(rows, np.arange(len(pred) + 1))
    taken = np.zeros(len(truth), dtype=bool)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        s = slice(starts[i], starts[i + 1])
        free = ok[s] & ~taken[cols[s]]
        if free.any():
            cand = np.flatnonzero(free)
            j = cols[s][cand[np.argmax(quality[s][cand])]]
            taken[j] = True
            out[i] = j
    return out


def _inside(xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Row-wise: point ``xy[k]`` inside box ``boxes[k]`` (edges included)."""
    return ((xy[:, 0] >= boxes[:, 0]) & (xy[:, 0] <= boxes[:, 2])
            & (xy[:, 1] >= boxes[:, 1]) & (xy[:, 1] <= boxes[:, 3]))


@dataclass(frozen=True)
class BoxEvaluation:
    """One field's predictions scored against its truth.

    Attributes:
        scores: (N,) prediction confidences.
        tp, fp, ignored: (N,) bool; a prediction is exactly one of them.
        found: (M,) bool, truth objects matched by a true positive.
        detectable: (M,) bool, truth objects that count for recall.
    """

    scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    ignored: np.ndarray
    found: np.ndarray
    detectable: np.ndarray


def evaluate_boxes(pred: np.ndarray, scores: np.ndarray, truth: pd.DataFrame, *,
                   mode: str = "iou") -> BoxEvaluation:
    """Score predictions against a truth table (columns x_min..y_max and bool ``detectable``)."""
    boxes = truth[BOX_COLUMNS].to_numpy(float).reshape(-1, 4)
    detectable = truth["detectable"].to_numpy(bool)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    m = match_boxes(np.asarray(pred, float).reshape(-1, 4), scores, boxes, mode=mode)
    hit = m >= 0
    real = detectable[np.maximum(m, 0)] if len(detectable) else np.zeros(len(m), bool)
    tp, ignored = hit & real, hit & ~real
    found = np.zeros(len(boxes), dtype=bool)
    found[m[tp]] = True
    return BoxEvaluation(scores=scores, tp=tp, fp=~hit, ignored=ignored, found=found,
                         detectable=detectable)


def average_precision(evals: Sequence[BoxEvaluation]) -> float:
    """Area under the interpolated precision-recall curve (all points), pooled over fields."""
    scores = np.concatenate([e.scores[~e.ignored] for e in evals])
    tp = np.concatenate([e.tp[~e.ignored] for e in evals])
    n_pos = sum(int(e.detectable.sum()) for e in evals)
    order = np.argsort(-scores, kind="stable")
    tp = tp[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(~tp)
    recall = ctp / max(n_pos, 1)
    precision = ctp / np.maximum(ctp + cfp, 1)
    mrec = np.r_[0, recall, recall[-1] if len(recall) else 0]
    mpre = np.r_[1, precision, 0]
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    return float(np.sum(np.diff(mrec) * mpre[1:]))


def precision_recall(evals: Sequence[BoxEvaluation], threshold: float) -> tuple[float, float]:
    """(precision, recall) of the predictions scoring >= ``threshold``, pooled over fields."""
    tp = sum(int((e.tp & (e.scores >= threshold)).sum()) for e in evals)
    fp = sum(int((e.fp & (e.scores >= threshold)).sum()) for e in evals)
    n_pos = sum(int(e.detectable.sum()) for e in evals)
    return tp / max(tp + fp, 1), tp / max(n_pos, 1)
