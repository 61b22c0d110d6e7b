"""Merging boxes without an all-pairs matrix: the same clusters as all-pairs greedy merging."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from galaxy_core.catalog.matching import coverage, match_boxes, points_in_boxes
from galaxy_core.detection.boxes import box_iou, candidate_pairs, merge_boxes, overlapping_pairs
from galaxy_core.detection.flip_tta import fuse_views


def dense_merge(boxes, scores, labels, *, iou=0.5):
    """The all-pairs greedy merge this project shipped before (the reference)."""
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


def random_boxes(rng, n, *, field=2000.0, sizes=(2.0, 300.0), dup=0.5):
    """Boxes of log-uniform sizes; about ``dup`` of them near-duplicates of another (tile seams)."""
    side = np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1]), (n, 2)))
    xy = rng.uniform(0, field, (n, 2))
    boxes = np.c_[xy, xy + side]
    copies = rng.random(n) < dup
    src = rng.integers(0, n, n)
    boxes[copies] = boxes[src[copies]] + rng.normal(0, 0.08, (copies.sum(), 1)) * np.tile(side[src[copies]], 2)
    return boxes, rng.random(n), rng.integers(0, 2, n)


def adversarial_sets():
    rng = np.random.default_rng(7)
    same = np.tile([[10.0, 10.0, 20.0, 20.0]], (50, 1))  # one box, 50 times, tied scores
    nested = np.array([[0, 0, s, s] for s in np.linspace(1, 400, 120)], float)  # a ladder of sizes
    chain = np.array([[i * 5.0, 0, i * 5.0 + 10, 10] for i in range(80)])  # each IoU 1/3 with the next
    huge = np.r_[random_boxes(rng, 300)[0], [[-0.5, -0.5, 4000, 4000], [0, 0, 3999, 3998]]]
    degenerate = np.array([[5, 5, 5, 9], [5, 5, 5, 9], [1, 1, 3, 3], [2, 2, 2, 2]], float)
    thin = np.c_[rng.uniform(0, 1000, (200, 1)), rng.uniform(0, 10, (200, 1))]
    thin = np.c_[thin, thin + [[800.0, 1.0]]]  # long, flat boxes: wide columns
    return {"same": (same, np.full(50, 0.5)), "nested": (nested, rng.random(120)),
            "chain": (chain, np.linspace(1, 0.2, 80)), "huge": (huge, rng.random(len(huge))),
            "degenerate": (degenerate, np.array([0.9, 0.8, 0.7, 0.6])),
            "thin": (thin, rng.random(200))}


@pytest.mark.parametrize("iou", [0.3, 0.5, 0.55, 0.9])
@pytest.mark.parametrize("seed", range(4))
def test_merge_equals_the_all_pairs_merge_on_random_fields(seed, iou):
    boxes, scores, labels = random_boxes(np.random.default_rng(seed), 1500)
    got, ref = merge_boxes(boxes, scores, labels, iou=iou), dense_merge(boxes, scores, labels, iou=iou)
    assert len(got[0]) == len(ref[0]) < len(boxes)
    for g, r in zip(got, ref, strict=True):
        assert np.array_equal(g, r)  # the same clusters, fused in the same order: bit for bit


@pytest.mark.parametrize("name", list(adversarial_sets()))
def test_merge_equals_the_all_pairs_merge_on_adversarial_sets(name):
    boxes, scores = adversarial_sets()[name]
    labels = np.arange(len(boxes)) % 3
    for iou in (0.0, 0.3, 0.5):
        got, ref = merge_boxes(boxes, scores, labels, iou=iou), dense_merge(boxes, scores, labels, iou=iou)
        for g, r in zip(got, ref, strict=True):
            assert np.array_equal(g, r), (name, iou)


def test_pairs_are_exactly_the_overlapping_ones():
    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, 800)[0]
    queries = np.r_[random_boxes(rng, 200)[0], [[-10.0, -10.0, 5000.0, 5000.0]]]  # one spans it all
    dense = box_iou(queries, boxes) > 0
    i, j = candidate_pairs(queries, boxes)
    assert np.array_equal(np.flatnonzero(dense.ravel()), i * len(boxes) + j)
    i, j, iou = overlapping_pairs(queries, boxes)
    assert np.array_equal(np.flatnonzero(dense.ravel()), i * len(boxes) + j)
    assert np.allclose(iou, box_iou(queries, boxes)[i, j])


def dense_fuse(views, iou=0.55):
    """The all-pairs flip fusion this project shipped before (the reference)."""
    n_views = len(views)
    boxes = np.concatenate([v[0] for v in views])
    scores = np.concatenate([v[1] for v in views])
    labels = np.concatenate([v[2] for v in views])
    view_of = np.concatenate([np.full(len(v[1]), k) for k, v in enumerate(views)])
    order = np.argsort(-scores, kind="stable")
    boxes, scores, labels, view_of = boxes[order], scores[order], labels[order], view_of[order]
    overlaps = box_iou(boxes, boxes)
    alive = np.ones(len(boxes), dtype=bool)
    out_b, out_s, out_l = [], [], []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        members = alive & (overlaps[i] >= iou)
        members[i] = True
        taken = [i] + [int(np.flatnonzero(members & (view_of == k))[0]) for k in range(n_views)
                       if k != view_of[i] and (members & (view_of == k)).any()]
        alive &= ~members
        w = scores[taken]
        out_b.append((boxes[taken] * w[:, None]).sum(axis=0) / max(float(w.sum()), 1e-12))
        out_s.append(float(w.sum()) / n_views)
        votes = {}
        for lab, s in zip(labels[taken].tolist(), w.tolist(), strict=True):
            votes[lab] = votes.get(lab, 0.0) + s
        out_l.append(max(votes, key=votes.get))
    best = np.argsort(-np.array(out_s), kind="stable")
    return np.array(out_b)[best], np.array(out_s)[best], np.array(out_l)[best]


def test_flip_fusion_equals_the_all_pairs_fusion():
    rng = np.random.default_rng(11)
    base, _, _ = random_boxes(rng, 400, field=640.0, sizes=(3.0, 120.0), dup=0.1)
    views = []
    for _ in range(4):  # each view: most objects, jittered, plus some noise boxes
        keep = rng.random(len(base)) < 0.85
        b = base[keep] + rng.normal(0, 1.0, (keep.sum(), 4))
        noise = random_boxes(rng, 30, field=640.0, sizes=(3.0, 20.0), dup=0.0)[0]
        b = np.r_[b, noise]
        views.append((b, rng.random(len(b)), rng.integers(0, 2, len(b))))
    got, ref = fuse_views(views), dense_fuse(views)
    for g, r in zip(got, ref, strict=True):
        assert np.array_equal(g, r)


def dense_match(pred, scores, truth, mode, min_iou=0.5):
    iou = box_iou(pred, truth)
    if mode == "iou":
        ok, quality = iou >= min_iou, iou
    else:
        pc, tc = (pred[:, :2] + pred[:, 2:]) / 2, (truth[:, :2] + truth[:, 2:]) / 2
        ok = points_in_boxes(pc, truth).T & points_in_boxes(tc, pred)
        quality = iou + ok
    out, taken = np.full(len(pred), -1), np.zeros(len(truth), bool)
    for i in np.argsort(-scores, kind="stable"):
        cand = np.flatnonzero(ok[i] & ~taken)
        if cand.size:
            j = cand[np.argmax(quality[i, cand])]
            taken[j], out[i] = True, j
    return out


@pytest.mark.parametrize("mode", ["iou", "centre"])
def test_sparse_matching_equals_the_dense_matching(mode):
    rng = np.random.default_rng(5)
    truth = random_boxes(rng, 600, dup=0.2)[0]
    pred = np.r_[truth[:450] + rng.normal(0, 2.0, (450, 4)), random_boxes(rng, 200)[0]]
    scores = rng.random(len(pred))
    assert np.array_equal(match_boxes(pred, scores, truth, mode=mode), dense_match(pred, scores, truth, mode))
    xy = rng.uniform(0, 2000, (500, 2))
    assert coverage(truth, xy, np.full(500, 20.0)) == (int(points_in_boxes(xy, truth).any(axis=0).sum()), 500)


def test_fifty_thousand_boxes_merge_in_bounded_memory():
    """An all-pairs float64 IoU matrix of 50,000 boxes would need 20 GB; the merge needs a few MB."""
    rng = np.random.default_rng(0)
    boxes, scores, labels = random_boxes(rng, 50_000, field=20_000.0, sizes=(3.0, 200.0))
    tracemalloc.start()
    merged = merge_boxes(boxes, scores, labels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert 0 < len(merged[0]) < len(boxes)
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_large_query_squares_find_their_pairs_in_bounded_memory():
    """Classification's framing squares (3x each box, up to thousands of px) against every box
    of a 64 Mpx field (362,000 pairs): candidates near the true pairs, not whole size buckets
    (which took 11 GB here)."""
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 15_000, field=8_000.0, sizes=(3.0, 200.0))[0]
    centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, 1.5 * (boxes[:, 2:] - boxes[:, :2]).max(axis=1) + 1
    squares = np.c_[centre - half[:, None], centre + half[:, None]]
    tracemalloc.start()
    i, j = candidate_pairs(squares, boxes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    some = rng.choice(len(squares), 300, replace=False)
    for k in some:  # each sampled square's pairs are exactly the boxes it overlaps
        assert np.array_equal(j[i == k], np.flatnonzero(box_iou(squares[k:k + 1], boxes)[0] > 0))
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
