"""Boxes as (n, 4) arrays of pixel edges: IoU, clipping and merging duplicates.

A box is ``(x_min, y_min, x_max, y_max)`` in field pixels, pixel ``i``
spanning ``[i - 0.5, i + 0.5]`` (:mod:`galaxy_core.types`).
"""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of edge boxes (x_min, y_min, x_max, y_max)."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def merge_boxes(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, *,
                iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy class-agnostic clustering by IoU, each cluster fused into one box.

    The best-scoring box seeds a cluster of every remaining box with IoU >= ``iou``
    to it; the cluster's box is the score-weighted mean, its score and label the
    seed's.  Returns (boxes (m, 4), scores (m,), labels (m,)), best first.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    boxes, scores, labels = boxes[order], scores[order], labels[order]
    alive = np.ones(len(boxes), dtype=bool)
    out_b, out_s, out_l = [], [], []
    overlaps = box_iou(boxes, boxes) if len(boxes) else np.zeros((0, 0))
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        members = alive & (overlaps[i] >= iou)
        members[i] = True
        w = scores[members][:, None]
        out_b.append((boxes[members] * w).sum(axis=0) / max(float(w.sum()), 1e-12))
        out_s.append(scores[i])
        out_l.append(labels[i])
        alive &= ~members
    if not out_b:
        return np.zeros((0, 4)), np.zeros(0), labels[:0]
    return np.array(out_b), np.array(out_s), np.array(out_l)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes (n, 4) clipped to the field's outer edges."""
    out = np.asarray(boxes, dtype=float).reshape(-1, 4).copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(-0.5, width - 0.5)
    out[:, [1, 3]] = out[:, [1, 3]].clip(-0.5, height - 0.5)
    return out
