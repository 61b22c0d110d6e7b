"""Boxes as (n, 4) arrays of pixel edges: IoU, clipping, finding overlaps and merging duplicates.

A box is ``(x_min, y_min, x_max, y_max)`` in field pixels, pixel ``i``
spanning ``[i - 0.5, i + 0.5]`` (:mod:`galaxy_core.types`).

Nothing here compares all pairs.  :func:`candidate_pairs` buckets boxes by
size (width and height levels, powers of two) and, within a bucket, by grid
cells as large as its largest box, so the pairs that can overlap are found
from a few sorted look-ups; time and memory grow about linearly with the number
of boxes.  Two boxes with IoU >= t have widths and heights within a factor t
of each other, so a merge only pairs boxes of about the same size.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of edge boxes (x_min, y_min, x_max, y_max).

    Dense: for small sets only (one box against its candidates, a tile's boxes).
    """
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[k]`` with ``b[k]`` for each k (the same arithmetic as :func:`box_iou`)."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def _size_levels(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Width and height levels: floor(log2(side)), sides under 1 px counted as 1 px."""
    w = np.clip(boxes[:, 2] - boxes[:, 0], 1.0, None)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 1.0, None)
    return np.floor(np.log2(w)).astype(int), np.floor(np.log2(h)).astype(int)


def level_reach(iou: float) -> int | None:
    """How many width (or height) levels apart two boxes with IoU >= ``iou`` can be; None: any."""
    if iou <= 0:
        return None
    return int(np.ceil(np.log2(1.0 / min(iou, 1.0)))) + 1


def candidate_pairs(a: np.ndarray, b: np.ndarray, *, reach: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), sorted by i then j, of every ``a[i]``, ``b[j]`` whose intersection has positive area.

    ``reach`` keeps only pairs whose width and height levels are at most that far
    apart (see :func:`level_reach`); None keeps all overlapping pairs.
    """
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    aw, ah = _size_levels(a)
    bw, bh = _size_levels(b)
    found_i, found_j = [np.zeros(0, int)], [np.zeros(0, int)]
    for key in np.unique(np.c_[bw, bh], axis=0):
        in_b = np.flatnonzero((bw == key[0]) & (bh == key[1]))
        near = (np.ones(len(a), bool) if reach is None
                else (np.abs(aw - key[0]) <= reach) & (np.abs(ah - key[1]) <= reach))
        i, j = _bucket_pairs(a, np.flatnonzero(near), b, in_b)
        found_i.append(i)
        found_j.append(j)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    keep = _intersect(a[i], b[j])
    i, j = i[keep], j[keep]
    order = np.lexsort((j, i))
    return i[order], j[order]


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise: ``a[k]`` and ``b[k]`` share a positive area (box_iou's test)."""
    return ((np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) > 0)
            & (np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) > 0))


def _bucket_pairs(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs of boxes ``a[ia]`` with the boxes ``b[ib]`` of one size bucket.

    The bucket's boxes sit in a grid of cells as large as its largest box, keyed row by
    row; a box of ``a`` meets the cells from one cell before its lower-left corner to the
    cell of its upper-right one, and takes each grid row of them as one range of keys, so
    the candidates are the boxes of those cells only, however large ``a``'s box is.
    """
    if len(ia) == 0 or len(ib) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    bb = b[ib]
    cw = max(float((bb[:, 2] - bb[:, 0]).max()), 1.0)
    ch = max(float((bb[:, 3] - bb[:, 1]).max()), 1.0)
    bx, by = np.floor(bb[:, 0] / cw).astype(np.int64), np.floor(bb[:, 1] / ch).astype(np.int64)
    x_lo, y_lo = bx.min(), by.min()
    nx, ny = bx.max() - x_lo + 1, by.max() - y_lo + 1
    keys = (by - y_lo) * nx + (bx - x_lo)
    order = np.argsort(keys, kind="stable")
    keys, members = keys[order], ib[order]
    aa = a[ia]
    c0 = np.clip(np.floor((aa[:, 0] - cw) / cw).astype(np.int64) - x_lo, 0, nx)
    c1 = np.clip(np.floor(aa[:, 2] / cw).astype(np.int64) - x_lo, -1, nx - 1)
    r0 = np.clip(np.floor((aa[:, 1] - ch) / ch).astype(np.int64) - y_lo, 0, ny)
    r1 = np.clip(np.floor(aa[:, 3] / ch).astype(np.int64) - y_lo, -1, ny - 1)
    sel = np.flatnonzero((c1 >= c0) & (r1 >= r0))
    counts = (r1 - r0 + 1)[sel]
    rows = np.repeat(sel, counts)
    grid_row = r0[rows] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    lo = np.searchsorted(keys, grid_row * nx + c0[rows], "left")
    hi = np.searchsorted(keys, grid_row * nx + c1[rows], "right")
    n = hi - lo
    pick = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return ia[np.repeat(rows, n)], members[pick]


def greedy_clusters(boxes: np.ndarray, *, iou: float) -> Iterator[tuple[int, np.ndarray]]:
    """Greedy IoU clustering in the given order: yields (seed, member indices ascending).

    ``boxes`` must already be sorted best first.  The first remaining box seeds
    a cluster of every remaining box with IoU >= ``iou`` to it (itself
    included), as an all-pairs greedy NMS would, without its matrix.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    alive = np.ones(len(boxes), dtype=bool)
    if iou <= 0:  # every box overlaps the first "enough"
        if len(boxes):
            yield 0, np.arange(len(boxes))
        return
    i, j = candidate_pairs(boxes, boxes, reach=level_reach(iou))
    close = (i != j) & (pair_iou(boxes[i], boxes[j]) >= iou)
    i, j = i[close], j[close]
    starts = np.searchsorted(i, np.arange(len(boxes) + 1))
    for seed in range(len(boxes)):
        if not alive[seed]:
            continue
        near = j[starts[seed]:starts[seed + 1]]
        near = near[alive[near]]
        alive[near] = False
        alive[seed] = False
        yield seed, np.sort(np.r_[near, seed])


def merge_boxes(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, *,
                iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy class-agnostic clustering by IoU, each cluster fused into one box.

    The best-scoring box seeds a cluster of every remaining box with IoU >= ``iou``
    to it; the cluster's box is the score-weighted mean, its score and label the
    seed's.  Returns (boxes (m, 4), scores (m,), labels (m,)), best first.  Time
    and memory grow about linearly with the number of boxes.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    boxes, scores, labels = boxes[order], scores[order], labels[order]
    out_b, out_s, out_l = [], [], []
    for seed, members in greedy_clusters(boxes, iou=iou):
        w = scores[members][:, None]
        out_b.append((boxes[members] * w).sum(axis=0) / max(float(w.sum()), 1e-12))
        out_s.append(scores[seed])
        out_l.append(labels[seed])
    if not out_b:
        return np.zeros((0, 4)), np.zeros(0), labels[:0]
    return np.array(out_b), np.array(out_s), np.array(out_l)


def overlapping_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, IoU) of every box ``a[i]`` and box ``b[j]`` that overlap (IoU > 0), sorted by i, j."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    i, j = candidate_pairs(a, b)
    return i, j, pair_iou(a[i], b[j])


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes (n, 4) clipped to the field's outer edges."""
    out = np.asarray(boxes, dtype=float).reshape(-1, 4).copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(-0.5, width - 0.5)
    out[:, [1, 3]] = out[:, [1, 3]].clip(-0.5, height - 0.5)
    return out
