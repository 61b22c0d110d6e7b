"""The learned galaxy detector: ultralytics YOLO over a whole rendered field.

The only module that imports ultralytics; its results become the project's
:class:`~galaxy_core.types.Detection` here.  The field's RGB render is cut into
overlapping tiles at its native pixel scale (the network was trained at that
scale, objects 4 to 300 px), plus one coarse block-averaged pass for objects
longer than the tile overlap; boxes are shifted back and merged across seams
by :mod:`galaxy_core.detection.tiling`.  Fields whose galaxies are only 2 to 4 px across
(a Hubble deep field shown at full extent) need the small-object pass:
``upsample=2`` runs the tiles on the field upsampled twice.  ``tta=True`` also
runs every tile flipped three ways and fuses the views (:mod:`galaxy_core.detection.flip_tta`).

The network runs through ONNX Runtime alone (:mod:`galaxy_core.detection.yolo_onnx`) when an
export made by :func:`export_onnx` (``python -m galaxy_core export-onnx``) of the ``.pt``
lies beside it, as the shipped one does: the same boxes, without importing torch or
ultralytics (about 4 s and 0.6 GB less per process).  Otherwise, or with
``backend="torch"``, through ultralytics and PyTorch.

>>> det = YoloDetector(conf=0.25)            # doctest: +SKIP
>>> detections = det(rgb, wcs=field.wcs)     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from galaxy_core.detection import tiling
from galaxy_core.detection.base import (
    OPERATING_FLOOR,
    SEES_RENDER,
    UPSAMPLE_FACTORS,
    DetectSettings,
    Progress,
    as_factor,
    score_floor,
)
from galaxy_core.detection.flip_tta import with_flips
from galaxy_core.detection.yolo_onnx import OnnxYolo
from galaxy_core.display.picture import ArrayPicture, Picture, as_rgb_uint8
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology.onnx_network import SOURCE_KEY, file_sha256
from galaxy_core.shipped import DETECTOR_WEIGHTS as DEFAULT_WEIGHTS
from galaxy_core.shipped import REPO_ROOT
from galaxy_core.types import Detection, Field

#: Largest picture accepted as one array (pixels, about 20000 x 20000); a field rendered window by
#: window (:class:`~galaxy_core.display.picture.WindowedPicture`) has no such limit.
MAX_PIXELS = 400_000_000
#: Largest upsampled field of the small-object pass (pixels, 300 MB of RGB).
MAX_UPSAMPLED_PIXELS = 100_000_000
#: torch threads of this process before ultralytics touched them (recorded by :func:`_torch_threads`).
_THREADS: int | None = None
#: Inference engines: "auto" takes ONNX Runtime when a matching export is beside the .pt.
BACKENDS = ("auto", "onnx", "torch")
#: Held while ultralytics' logger level is lowered, so concurrent sessions restore it in turn.
_QUIET_LOCK = threading.RLock()
#: Confidence floor of each view under test-time augmentation: a fused score is the
#: mean over the views, so views keep boxes below the caller's threshold.
TTA_VIEW_CONF = 0.05
#: Tiles per forward pass of each engine.  ONNX Runtime on 2 cores: 75 ms a 640 px tile
#: with 2, 4 or 8 tiles a pass, a bare session peaking at 0.19, 0.30, 0.50 GB; 4 was the
#: fastest over a whole 16 Mpx field (0.94x the wall time of 8, 0.23 GB less).
BATCH = {"onnx": 4, "torch": 8}
#: Most boxes one tile may give (a 640 px tile of the XDF holds over 1,000 candidates
#: above 0.05).
MAX_DET = 3000


class YoloDetector:
    """Configure once, call on RGB fields: ``YoloDetector(conf=0.25)(rgb, wcs=wcs)``.

    Args:
        weights: a ``.pt`` file (or an ``.onnx`` export); default ``weights/detector.pt``.
        backend: "auto" (ONNX Runtime when :func:`onnx_export_of` finds the .pt's
            export, else PyTorch), "onnx" (that export, or an error) or "torch".
        conf: minimum confidence kept, in [0, 1).
        iou: IoU above which two boxes are one object (NMS in a tile, merging across tiles).
        tile: tile side in px (also the network input size: no resampling).
        overlap: overlap of neighbouring tiles in px; objects up to this long are
            always seen whole by one tile, longer ones come from the coarse pass.
        margin: a box within this many px of an inner tile edge counts as cut (dropped).
        coarse: also run the block-averaged whole-field pass for large objects.
        batch: tiles per forward pass; default :data:`BATCH` of the engine (ONNX Runtime is
            as fast per tile on 4 tiles as on 8, with 0.2 GB less memory).
        upsample: the small-object pass: run the fine tiles on the field upsampled
            this many times (1, 1.5, 2 or 3; 1 = native scale).  2 finds galaxies
            only 2 to 4 px across (about 4x the time), 1.5 nearly all of them (about
            2-3x the time); a call can override it.
        tta: test-time augmentation: every tile is also seen flipped left-right,
            top-bottom and both, and the four views are fused
            (:mod:`galaxy_core.detection.flip_tta`); about 4x the network's time.  A call can
            override it, and ``conf`` too.

    Thread-safe: calls from concurrent sessions share one model behind a lock.
    """

    method = "yolo"
    sees_render = SEES_RENDER["yolo"]

    def __init__(self, weights: str | Path | None = None, *, conf: float = OPERATING_FLOOR["yolo"],
                 iou: float = 0.5, tile: int = tiling.TILE_PX, overlap: int = tiling.OVERLAP_PX,
                 margin: float = 2.0, coarse: bool = True, batch: int | None = None, upsample: float = 1,
                 tta: bool = False, backend: str = "auto") -> None:
        path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        if not path.is_file():
            raise GalaxyCoreError(
                f"The YOLO detector's weights are missing ({path}); train them with "
                "`python -m training.detector.train` or use the sep method."
            )
        if not 0 < iou <= 1:
            raise GalaxyCoreError("The detector needs 0 < iou <= 1.")
        if tile < 64 or tile % 32 or not 0 <= overlap < tile // 2:
            raise GalaxyCoreError("The tile must be a multiple of 32 px (>= 64) and overlap < tile/2.")
        path, self.backend = _engine(path, backend)
        self.weights, self.conf, self.iou = path, _valid_conf(conf), float(iou)
        self.tile, self.overlap, self.margin = int(tile), int(overlap), float(margin)
        self.coarse, self.batch = bool(coarse), max(1, int(batch or BATCH[self.backend]))
        self.upsample = self._factor(upsample)
        self.tta = bool(tta)
        self._lock = threading.Lock()
        if self.backend == "onnx":
            self._model: OnnxYolo = _onnx_network(path)
            self.names: dict[int, str] = dict(self._model.names)
        else:
            self._model = _load(path)
            with _quiet():
                self.names = dict(self._model.names)

    def __repr__(self) -> str:
        return (f"YoloDetector(weights={self.weights.name!r}, backend={self.backend!r}, "
                f"conf={self.conf}, iou={self.iou}, "
                f"tile={self.tile}, overlap={self.overlap}, coarse={self.coarse}, "
                f"upsample={self.upsample}, tta={self.tta})")

    def detect(self, field: Field, rgb: np.ndarray | None, settings: DetectSettings, *,
               progress: Progress | None = None) -> list[Detection]:
        """The :class:`~galaxy_core.detection.base.Detector` call on the field's rendered ``rgb``."""
        if rgb is None:
            raise GalaxyCoreError("The YOLO detector needs the field's rendered picture.")
        return self(rgb, wcs=field.wcs, progress=progress, upsample=settings.upsample,
                    conf=score_floor(self.method, settings.min_score), tta=settings.flip_tta)

    def __call__(self, rgb: np.ndarray | Picture, *, wcs=None, progress: Progress | None = None,
                 upsample: float | None = None, conf: float | None = None,
                 tta: bool | None = None) -> list[Detection]:
        """Detections in a uint8 (H, W, 3) picture (or a rendered
        :class:`~galaxy_core.display.picture.Picture`), best first, with RA/Dec when ``wcs`` is given.

        ``upsample``, ``conf`` and ``tta`` override the detector's own settings for this call.
        """
        conf = self.conf if conf is None else _valid_conf(conf)
        tta = self.tta if tta is None else bool(tta)
        image = _as_picture(rgb)
        height, width = image.height, image.width
        factor = self.upsample if upsample is None else self._factor(upsample)
        if factor > 1 and height * width * factor**2 > MAX_UPSAMPLED_PIXELS:
            raise GalaxyCoreError(
                f"The {factor}x small-object pass is limited to fields of "
                f"{MAX_UPSAMPLED_PIXELS // factor**2 / 1e6:.0f} megapixels; this one has "
                f"{height * width / 1e6:.0f}. Turn the small-object pass off."
            )
        jobs = self.jobs(height, width, upsample=factor)
        found = self.tile_boxes(image, jobs, conf=conf, tta=tta, upsample=factor, progress=progress)
        return self.finish(*found, height=height, width=width, conf=conf, wcs=wcs)

    def jobs(self, height: int, width: int, *, upsample: float = 1) -> list[tiling.TileJob]:
        """The tiles of a ``height`` x ``width`` field, fine ones row by row, then the coarse pass's."""
        return tiling.tile_jobs(height, width, tile=self.tile, overlap=self.overlap,
                                coarse=self.coarse, upsample=upsample)

    def tile_boxes(self, picture: np.ndarray | Picture, jobs: list[tiling.TileJob], *, conf: float,
                   tta: bool, upsample: float = 1, progress: Progress | None = None):
        """(boxes, scores, labels) the network finds in ``jobs`` (field px), before merging.

        A field can be split into groups of jobs run apart (windows of a mosaic on
        several machines); :meth:`finish` on all their boxes gives the whole field's
        detections.
        """
        if tta:
            predict = with_flips(partial(self._predict, conf=min(conf, TTA_VIEW_CONF)))
        else:
            predict = partial(self._predict, conf=conf)
        sources = tiling.tile_sources(picture, jobs, tile=self.tile, upsample=upsample)
        return tiling.run_jobs(jobs, sources, predict, tile=self.tile, overlap=self.overlap,
                               margin=self.margin, batch=self.batch, progress=progress,
                               name="YOLO with flips" if tta else "YOLO")

    def finish(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, *, height: int,
               width: int, conf: float, wcs=None) -> list[Detection]:
        """Merged across tiles, kept from ``conf``: the field's detections, numbered, with RA/Dec."""
        return tiling.finish_tiles(boxes, scores, labels, self.names, iou=self.iou, conf=conf,
                                   height=height, width=width, wcs=wcs)

    def _factor(self, upsample) -> int | float:
        """A valid small-object factor: one of ``UPSAMPLE_FACTORS`` that fits the tiles."""
        if upsample not in UPSAMPLE_FACTORS or not tiling.upsample_fits(
                upsample, tile=self.tile, overlap=self.overlap):
            raise GalaxyCoreError(
                f"The small-object upsampling factor must be one of {UPSAMPLE_FACTORS} "
                f"with overlap x factor < "
                f"tile / 2 (tile {self.tile}, overlap {self.overlap}), not {upsample!r}."
            )
        return as_factor(upsample)

    def _predict(self, tiles: list[np.ndarray], *,
                 conf: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The network on RGB tiles -> per tile (edge boxes (n, 4), scores, class ids) >= ``conf``.

        The ONNX engine decodes and suppresses on its own.  Under torch, the first call
        goes through ultralytics' predictor, which sets the model up (fused, on its
        engine); later ones feed its model the same tensor and run the same NMS
        directly, the same boxes without building a Results object per tile.
        """
        with self._lock:
            if self.backend == "onnx":
                found = self._model(tiles, conf=conf, iou=self.iou, max_det=MAX_DET)
            else:
                with _quiet():
                    if self._model.predictor is None:
                        found = self._predict_ultralytics(tiles, conf)
                    else:
                        found = self._predict_direct(tiles, conf)
                    # ultralytics' device setup caps torch at (cores - 1) threads; undo it
                    _torch_threads(restore=True)
        return [(b.astype(float).reshape(-1, 4) - 0.5, s.astype(float), c.astype(int))  # pixel i: [i, i+1]
                for b, s, c in found]

    def _predict_ultralytics(self, tiles: list[np.ndarray], conf: float) -> list[tuple]:
        bgr = [t[..., ::-1] for t in tiles]  # ultralytics takes numpy images as BGR (OpenCV)
        results = self._model.predict(bgr, imgsz=self.tile, conf=conf, iou=self.iou,
                                       agnostic_nms=True, max_det=MAX_DET, device="cpu", verbose=False)
        return [(r.boxes.xyxy.cpu().numpy(), r.boxes.conf.cpu().numpy(), r.boxes.cls.cpu().numpy())
                for r in results]

    def _predict_direct(self, tiles: list[np.ndarray], conf: float) -> list[tuple]:
        import torch
        from ultralytics.utils import nms

        predictor = self._model.predictor
        x = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.inference_mode():
            raw = predictor.inference(x)
        kept = nms.non_max_suppression(raw, conf, self.iou, None, True, max_det=MAX_DET, nc=0,
                                       end2end=getattr(predictor.model, "end2end", False))
        out = []
        for k in kept:
            k = k.cpu().numpy()
            boxes = k[:, :4].copy()  # as the predictor's scale_boxes: clipped to the tile
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, x.shape[3])
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, x.shape[2])
            out.append((boxes, k[:, 4], k[:, 5]))
        return out



def _valid_conf(conf) -> float:
    """``conf`` as a float in [0, 1), or a GalaxyCoreError."""
    try:
        value = float(conf)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 <= value < 1:
        raise GalaxyCoreError(f"The detector's confidence floor must be in [0, 1), not {conf!r}.")
    return value


def _as_picture(rgb: np.ndarray | Picture) -> Picture:
    """The detector's input as a Picture: a rendered field, or a uint8 (H, W, 3) array checked."""
    if isinstance(rgb, Picture):
        return rgb
    image = as_rgb_uint8(rgb, min_side=8, allow_float=False, what="the detector's picture")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise GalaxyCoreError(f"The picture has more than {MAX_PIXELS:,} pixels; cut it into smaller fields.")
    return ArrayPicture(np.ascontiguousarray(image))


def onnx_export_of(pt: Path) -> Path | None:
    """``pt``'s ONNX export beside it (same name, ``.onnx``), or None.

    None when there is no such file, onnxruntime is not installed, the file is not
    a readable export, or it records a different source file (a stale export after
    retraining).
    """
    onnx_path = Path(pt).with_suffix(".onnx")
    if not onnx_path.is_file() or importlib.util.find_spec("onnxruntime") is None:
        return None
    try:
        source = _onnx_network(onnx_path).source
    except GalaxyCoreError:
        return None
    return onnx_path if source == file_sha256(Path(pt)) else None


def _onnx_network(path: Path) -> OnnxYolo:
    """The export at ``path`` loaded once per file version (it is read again after a change)."""
    st = path.stat()
    return _onnx_version(str(path.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _onnx_version(path: str, mtime_ns: int, size: int) -> OnnxYolo:
    return OnnxYolo(path)


def _engine(path: Path, backend: str) -> tuple[Path, str]:
    """The file to load and its engine ("onnx" or "torch") for ``backend``."""
    if backend not in BACKENDS:
        raise GalaxyCoreError(f"The detector's backend must be one of {BACKENDS}, not {backend!r}.")
    if path.suffix == ".onnx":
        if backend == "torch":
            raise GalaxyCoreError(f"{path.name} is an ONNX export; the torch backend needs the .pt.")
        return path, "onnx"
    if backend == "torch":
        return path, "torch"
    export = onnx_export_of(path)
    if export is not None:
        return export, "onnx"
    if backend == "onnx":
        raise GalaxyCoreError(
            f"No up-to-date ONNX export of {path.name} (or onnxruntime is missing); make one with "
            f"`python -m galaxy_core export-onnx {path}`."
        )
    return path, "torch"


def export_onnx(weights: str | Path, out: str | Path | None = None) -> Path:
    """Export a trained ``.pt`` to ONNX (dynamic batch and tile size) recording its SHA-256.

    Writes ``out`` (default: the ``.pt`` with suffix ``.onnx``) and returns its path.
    Needs the ``onnx`` and ``onnxslim`` packages.
    """
    pt = Path(weights)
    out = Path(out) if out is not None else pt.with_suffix(".onnx")
    if not pt.is_file():
        raise GalaxyCoreError(f"The detector's weights are missing ({pt}).")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "detector.pt"  # ultralytics writes the export beside its input
        shutil.copyfile(pt, copy)
        made = Path(_load(copy).export(format="onnx", dynamic=True, simplify=True, device="cpu",
                                       verbose=False))
        _torch_threads(restore=True)
        import onnx

        model = onnx.load(str(made))
        entry = model.metadata_props.add()
        entry.key, entry.value = SOURCE_KEY, file_sha256(pt)
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out))
    return out


def _torch_threads(*, restore: bool = False) -> int:
    """torch's thread count as it was before ultralytics first touched it; ``restore``
    sets torch back to it (ultralytics' device setup caps it at cores - 1)."""
    global _THREADS
    import torch

    if _THREADS is None:
        _THREADS = torch.get_num_threads()
    if restore:
        torch.set_num_threads(_THREADS)
    return _THREADS


def _load(path: Path):
    """The ``.pt`` through ultralytics (imported here, torch with it), quietly."""
    _torch_threads()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO_ROOT / ".yolo_config"))
    from ultralytics import YOLO

    undo_ultralytics_side_effects()
    try:
        with _quiet():
            model = YOLO(str(path), task="detect")
    except Exception as err:  # a corrupt or foreign file
        raise GalaxyCoreError(f"Cannot load the detector's weights {path.name}: {err}") from err
    return model


@contextlib.contextmanager
def _quiet():
    """Keep ultralytics' info lines (it prints "Loading ... for ONNX Runtime" on stdout) out of the CLI's output."""
    logger = logging.getLogger("ultralytics")
    with _QUIET_LOCK:
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(level)


def undo_ultralytics_side_effects() -> None:
    """Undo what importing ultralytics changes for the whole process.

    It caps torch at (cores - 1) threads, and patches PIL's ``Image.open`` to
    pip-install a HEIF plugin when a file is unreadable (offline: a
    ModuleNotFoundError instead of PIL's own error).  Call after importing it.
    """
    from PIL import Image
    from ultralytics.utils import patches

    _torch_threads(restore=True)
    Image.open = patches._image_open
