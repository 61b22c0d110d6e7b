"""The YOLO export run by ONNX Runtime alone: the same NMS and decoding as ultralytics, no torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from astropy.io import fits

from galaxy_core.detection.yolo import YoloDetector, onnx_export_of
from galaxy_core.detection.yolo_onnx import decode, nms
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.shipped import DETECTOR_WEIGHTS
from tests.support import cli_in_fresh_process


def _boxes(rng: np.random.Generator, n: int, extent: float = 200.0) -> np.ndarray:
    """Random corner boxes, crowded so that many overlap, a few of zero area."""
    xy = rng.uniform(0, extent, (n, 2))
    wh = rng.uniform(1, 40, (n, 2))
    wh[rng.random(n) < 0.05] = 0.0
    return np.hstack([xy, xy + wh]).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("iou", [0.3, 0.5, 0.7])
def test_nms_keeps_what_torchvision_keeps(seed, iou):
    rng = np.random.default_rng(seed)
    boxes, scores = _boxes(rng, 600), rng.random(600).astype(np.float32)
    ours = nms(boxes, scores, iou)
    theirs = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
    assert 0 < len(ours) < 600
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(nms(boxes, scores, iou, limit=7), theirs[:7])


def test_nms_of_identical_boxes_keeps_the_best_one():
    boxes = np.tile(np.float32([10, 10, 20, 20]), (5, 1))
    assert nms(boxes, np.float32([0.2, 0.9, 0.5, 0.1, 0.3]), 0.5).tolist() == [1]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


@pytest.mark.parametrize("seed", range(3))
def test_decode_gives_ultralytics_agnostic_nms_boxes(seed):
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(seed)
    anchors, width, height = 2100, 320, 256
    raw = np.empty((2, 6, anchors), np.float32)
    raw[:, 0] = rng.uniform(-10, width + 10, (2, anchors))
    raw[:, 1] = rng.uniform(-10, height + 10, (2, anchors))
    raw[:, 2:4] = rng.uniform(2, 60, (2, 2, anchors))
    raw[:, 4:] = rng.random((2, 2, anchors)) ** 3
    theirs = non_max_suppression(torch.from_numpy(raw), 0.25, 0.5, None, True, max_det=300, nc=0)
    for r, t in zip(raw, theirs, strict=True):
        boxes, scores, classes = decode(r, conf=0.25, iou=0.5, max_det=300, height=height, width=width)
        t = t.numpy()
        expected = t[:, :4].copy()
        expected[:, [0, 2]] = expected[:, [0, 2]].clip(0, width)
        expected[:, [1, 3]] = expected[:, [1, 3]].clip(0, height)
        assert 10 < len(scores) <= 300
        np.testing.assert_array_equal(boxes, expected)
        np.testing.assert_array_equal(scores, t[:, 4])
        np.testing.assert_array_equal(classes, t[:, 5].astype(int))


needs_export = pytest.mark.skipif(onnx_export_of(DETECTOR_WEIGHTS) is None,
                                  reason="no up-to-date weights/detector.onnx")


def test_the_shipped_export_is_of_the_shipped_weights():
    """Retraining weights/detector.pt without `export-onnx` would leave the fast path stale."""
    assert DETECTOR_WEIGHTS.with_suffix(".onnx").is_file()
    assert onnx_export_of(DETECTOR_WEIGHTS) == DETECTOR_WEIGHTS.with_suffix(".onnx")


@needs_export
def test_a_yolo_run_from_the_cli_imports_neither_torch_nor_ultralytics(tmp_path):
    path = tmp_path / "f.fits"
    data = np.random.default_rng(0).normal(0, 1, (300, 300)).astype(np.float32)
    yy, xx = np.mgrid[0:300, 0:300]
    data += 60 * np.exp(-((xx - 150.0) ** 2 + (yy - 120.0) ** 2) / 32)
    fits.writeto(path, data)
    code, imported, stderr = cli_in_fresh_process(
        ["detect", str(path), "--method", "yolo", "--no-classify", "--out", str(tmp_path / "c.csv")],
        ["torch", "ultralytics"], timeout=120)
    assert code == 0 and imported == {"torch": False, "ultralytics": False}, stderr
    assert len((tmp_path / "c.csv").read_text().splitlines()) >= 2  # a header and the planted galaxy


def test_a_broken_export_is_not_used_and_is_refused_by_name(tmp_path):
    import shutil

    pt = tmp_path / "det.pt"
    shutil.copyfile(DETECTOR_WEIGHTS, pt)
    (tmp_path / "det.onnx").write_bytes(b"not an onnx file")
    assert onnx_export_of(pt) is None
    with pytest.raises(GalaxyCoreError, match="Cannot load the detector's ONNX export det.onnx"):
        YoloDetector(tmp_path / "det.onnx")
