"""The YOLO detector's ONNX export run by ONNX Runtime alone: no torch, no ultralytics.

Importing torch and ultralytics and setting up ultralytics' predictor costs about
4 s and 0.6 GB before the first tile; ONNX Runtime starts in about 0.3 s.  This
module decodes the exported network's raw output as ultralytics does (best class
per anchor, centre/size to corners, clipped to the tile) and suppresses
duplicates with the same greedy NMS as ``torchvision.ops.nms`` (float32,
highest score first, IoU strictly above the threshold suppresses).

>>> net = OnnxYolo(Path("weights/detector.onnx"))                       # doctest: +SKIP
>>> [(boxes, scores, classes)] = net([tile], conf=0.25, iou=0.5, max_det=3000)  # doctest: +SKIP
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology.onnx_network import session_options, session_source

#: Most candidates per tile passed to NMS, highest scores first (ultralytics' ``max_nms``).
MAX_NMS = 30000


class OnnxYolo:
    """An ultralytics YOLO detection export (``dynamic=True``) on uint8 RGB tiles.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime intra-op threads (default
            :func:`~galaxy_core.morphology.onnx_network.default_threads`).

    Attributes:
        names: class id -> name, from the export's metadata.
        source: SHA-256 of the ``.pt`` it was exported from (None if not recorded).

    Raises:
        GalaxyCoreError: not a readable ONNX detection export.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        try:
            self._session = ort.InferenceSession(str(path), session_options(threads),
                                                 providers=["CPUExecutionProvider"])
            meta = self._session.get_modelmeta().custom_metadata_map
            self.names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}
        except Exception as err:  # ORT raises its own types; a missing or odd "names" entry too
            raise GalaxyCoreError(f"Cannot load the detector's ONNX export {Path(path).name}: {err}") from err
        self.source = session_source(self._session)
        self._input = self._session.get_inputs()[0].name

    def __call__(self, tiles: list[np.ndarray], *, conf: float, iou: float,
                 max_det: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per (H, W, 3) uint8 tile (all the same size): corner boxes (n, 4) in tile px
        (clipped to the tile), scores and class ids, kept by NMS, best first."""
        x = np.stack(tiles).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        raw = self._session.run(None, {self._input: np.ascontiguousarray(x)})[0]
        height, width = x.shape[2:]
        return [decode(r, conf=conf, iou=iou, max_det=max_det, height=height, width=width)
                for r in raw]


def decode(raw: np.ndarray, *, conf: float, iou: float, max_det: int, height: int,
           width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One tile's raw output (4 + classes, anchors): (cx, cy, w, h, class scores...) ->
    (corner boxes clipped to ``width`` x ``height``, scores, class ids) after agnostic NMS."""
    scores_all = raw[4:]
    classes = scores_all.argmax(0)
    scores = scores_all[classes, np.arange(raw.shape[1])]
    keep = np.flatnonzero(scores > conf)
    if keep.size > MAX_NMS:
        keep = keep[np.argsort(-scores[keep], kind="stable")[:MAX_NMS]]
    cx, cy, w, h = raw[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    chosen = nms(boxes, scores[keep], iou, limit=max_det)
    boxes = boxes[chosen]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes, scores[keep][chosen], classes[keep][chosen]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, *, limit: int | None = None) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first, as ``torchvision.ops.nms``:
    a box is dropped when its IoU with a kept, higher-scoring box exceeds ``iou``.

    float32 arithmetic like torchvision's kernel; stops after ``limit`` kept boxes.
    """
    boxes = np.asarray(boxes, np.float32)
    order = np.argsort(-np.asarray(scores), kind="stable")
    x1, y1, x2, y2 = (boxes[order, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    alive = np.ones(order.size, bool)
    kept: list[int] = []
    threshold = np.float32(iou)
    for i in range(order.size):
        if not alive[i]:
            continue
        kept.append(i)
        if limit is not None and len(kept) >= limit:
            break
        rest = i + 1 + np.flatnonzero(alive[i + 1:])
        inter = (np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), np.float32(0))
                 * np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), np.float32(0)))
        with np.errstate(invalid="ignore", divide="ignore"):  # empty boxes: NaN, never above
            alive[rest[inter / (areas[i] + areas[rest] - inter) > threshold]] = False
    return order[np.asarray(kept, dtype=np.int64)]
