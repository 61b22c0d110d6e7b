"""Everything the app keeps between reruns and shares across sessions, bounded by size.

Fields, previews and finished runs live in :class:`SizedLRU` stores (one per
process, in ``st.cache_resource``), each bounded in bytes as well as entries,
so memory after sessions close returns under :data:`BUDGET_MB` plus the
models, whatever was uploaded.  Stored objects are treated as read-only, so
concurrent sessions share them.  Model runs go through the process's
:class:`~app.jobs.RunQueue`.  Keys are a field's key (demo name, or the digest
of the uploaded bytes) plus the render and run settings, so a threshold or a
filter change never re-runs a model.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import astuple, dataclass, field

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from app.jobs import RunQueue, limit_arenas, release_memory
from galaxy_core import pipeline, shipped
from galaxy_core.catalog.table import to_frame
from galaxy_core.display import RenderSettings, downsample, preview_scale, render
from galaxy_core.display.annotate import jpeg_bytes
from galaxy_core.io.demo import DEMO_FIELDS
from galaxy_core.runcost import CostModel
from galaxy_core.types import Detection, Field

#: Longest side of the picture shown in the browser, px (display only: the
#: models always see the full-resolution field).
DISPLAY_MAX_SIDE = 1024
#: Side of the table's thumbnails, px (shown at the table's row height, crisp on HiDPI screens).
THUMB_PX = 96
#: Memory each shared store may hold, MB: uploaded and demo fields, finished runs (their
#: renders, catalogues and thumbnails), display previews.  Whatever sessions do, these
#: and the loaded models are what the server keeps once they close.
BUDGET_MB = {"fields": 768, "runs": 512, "previews": 128}
#: Seconds an entry may stay unused before a store drops it.
TTL_S = 3600.0


def digest(data: bytes) -> str:
    """A short content hash of uploaded bytes (cache key)."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def settings_key(settings) -> tuple:
    """A hashable key of a frozen settings dataclass."""
    return (type(settings).__name__, *astuple(settings))


def nbytes(obj) -> int:
    """The memory an object in a store holds, bytes (arrays and strings counted, the rest small)."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, str | bytes):
        return len(obj)
    if isinstance(obj, Field):
        return int(obj.data.nbytes) + 64 * 1024
    if isinstance(obj, LoadedField):
        return nbytes(obj.field)
    if isinstance(obj, StoredRun):
        return obj.nbytes()
    if isinstance(obj, tuple | list):
        return sum(nbytes(o) for o in obj) + 64
    if isinstance(obj, dict):
        return sum(nbytes(v) for v in obj.values()) + 64 * len(obj) + 64
    if isinstance(obj, pd.DataFrame):
        return int(obj.memory_usage(deep=True).sum())
    return 1024


class SizedLRU:
    """A thread-safe least-recently-used store bounded by total bytes, entries and idle time.

    :meth:`get_or_make` computes a missing value once even when several threads ask.
    An entry larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes: int, *, max_entries: int = 1000, ttl_s: float | None = TTL_S,
                 sizeof: Callable[[object], int] = nbytes) -> None:
        self.max_bytes, self.max_entries, self.ttl_s, self.sizeof = max_bytes, max_entries, ttl_s, sizeof
        self._items: OrderedDict[Hashable, tuple[object, int, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}
        self.total = 0

    def __repr__(self) -> str:
        return f"SizedLRU({len(self._items)} entries, {self.total / 2**20:.0f}/{self.max_bytes / 2**20:.0f} MiB)"

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not None

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.total = 0

    def pop(self, key: Hashable) -> None:
        with self._lock:
            item = self._items.pop(key, None)
            if item is not None:
                self.total -= item[1]

    def get(self, key: Hashable):
        """The value of ``key``, or None (missing or expired)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            value, size, used = item
            if self.ttl_s is not None and time.monotonic() - used > self.ttl_s:
                del self._items[key]
                self.total -= size
                return None
            self._items[key] = (value, size, time.monotonic())
            self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value) -> None:
        """Store ``value``, dropping the least recently used entries beyond the bounds."""
        size = int(self.sizeof(value))
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.total -= old[1]
            if size > self.max_bytes:
                return
            self._items[key] = (value, size, time.monotonic())
            self.total += size
            while self._items and (self.total > self.max_bytes or len(self._items) > self.max_entries):
                _, (_, dropped, _) = self._items.popitem(last=False)
                self.total -= dropped

    def get_or_make(self, key: Hashable, make: Callable[[], object]):
        """The value of ``key``, made by ``make()`` once if missing (other callers wait for it)."""
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            lock = self._making.setdefault(key, threading.Lock())
        with lock:
            found = self.get(key)
            if found is None:
                found = make()
                self.put(key, found)
        with self._lock:
            self._making.pop(key, None)
        return found


@st.cache_resource
def _stores() -> dict[str, SizedLRU]:
    return {name: SizedLRU(mb * 2**20, max_entries=64 if name != "previews" else 256)
            for name, mb in BUDGET_MB.items()}


def field_store() -> SizedLRU:
    """Fields by key: demo fields and uploads."""
    return _stores()["fields"]


def run_store() -> SizedLRU:
    """Finished runs (:class:`StoredRun`) by run key."""
    return _stores()["runs"]


def preview_store() -> SizedLRU:
    """Display renders, their data URIs, downsampled fields and hover grids."""
    return _stores()["previews"]


@st.cache_resource
def run_queue() -> RunQueue:
    """The process's one queue of model runs."""
    limit_arenas()
    return RunQueue(on_idle=release_memory)


@st.cache_resource
def cost_model() -> CostModel:
    """The process's run-time estimates, learning from every finished run."""
    return CostModel()


@dataclass(frozen=True, eq=False)
class LoadedField:
    """A field, the key the stores know it by, and the stem of its exports' file names."""

    key: str
    field: Field
    stem: str = ""

    def __repr__(self) -> str:
        f = self.field
        return f"LoadedField({self.key!r}, {f.name!r}, {f.n_bands}x{f.height}x{f.width})"

    @property
    def origin_lower(self) -> bool:
        """FITS fields are shown with row 0 at the bottom."""
        return self.field.kind == "fits"


def demo_field(name: str) -> LoadedField:
    """A bundled field by its DEMO_FIELDS name."""
    key = f"demo:{name}"

    def make() -> LoadedField:
        made = DEMO_FIELDS[name]()
        return LoadedField(key, made, made.name)
    return field_store().get_or_make(key, make)


def uploaded_field(key: str, data: bytes, name: str, hdu: int | None, stem: str) -> LoadedField:
    """One uploaded FITS or picture, read once (``key`` holds its digest and HDU)."""
    from galaxy_core.io.load import load_field

    return field_store().get_or_make(
        key, lambda: LoadedField(key, load_field(data, name=name, hdu=hdu), stem))


def uploaded_bands(key: str, data: tuple[bytes, bytes, bytes], names: tuple[str, str, str],
                   hdu: int | None, stem: str) -> LoadedField:
    """Three uploaded one-band files as R, G, B, read once (``key`` joins their digests)."""
    from galaxy_core.io.load import load_bands

    return field_store().get_or_make(
        key, lambda: LoadedField(key, load_bands(list(data), names=list(names), hdu=hdu), stem))


def known_field(key: str) -> LoadedField | None:
    """The field of ``key`` while the server holds it (a demo always), else None."""
    if key.startswith("demo:") and key[5:] in DEMO_FIELDS:
        return demo_field(key[5:])
    return field_store().get(key)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def hdu_list(key: str, _data: bytes) -> list:
    """The HDUs of an uploaded FITS file ([] for a picture)."""
    from galaxy_core.io.load import hdus_of

    return hdus_of(_data)


def small_field(loaded: LoadedField, max_side: int) -> tuple[Field, int]:
    """The field block-averaged for display and previews, and the block size."""
    def make():
        factor = preview_scale(loaded.field, max_side)
        return downsample(loaded.field, factor), factor
    return preview_store().get_or_make(("small", loaded.key, max_side), make)


def preview_rgb(loaded: LoadedField, settings: RenderSettings,
                max_side: int = DISPLAY_MAX_SIDE) -> tuple[np.ndarray, int]:
    """A render of the downsampled field (uint8, read-only) and its block size."""
    def make():
        small, factor = small_field(loaded, max_side)
        rgb = render(small, settings)
        rgb.flags.writeable = False
        return rgb, factor
    return preview_store().get_or_make(("rgb", loaded.key, settings_key(settings), max_side), make)


def preview_jpeg(loaded: LoadedField, settings: RenderSettings,
                 max_side: int = DISPLAY_MAX_SIDE, *, flip: bool = False) -> tuple[bytes, int]:
    """The display render as JPEG bytes (``flip``: row 0 at the bottom, as FITS are shown), and
    its block size."""
    def make():
        rgb, factor = preview_rgb(loaded, settings, max_side)
        return jpeg_bytes(rgb, origin_lower=flip), factor
    return preview_store().get_or_make(("jpeg", loaded.key, settings_key(settings), max_side, flip),
                                       make)


#: Most cells of a field's hover grid: about 0.6 MB of the figure sent on each view change.
HOVER_CELLS = 20_000


def hover_trace(loaded: LoadedField) -> dict:
    """The field's hover-grid trace (:func:`app.field_figure.hover_trace` of
    :func:`galaxy_core.display.sky_grid.hover_grid`), made once."""
    from app.field_figure import hover_trace as trace
    from galaxy_core.display.sky_grid import hover_grid

    def make() -> dict:
        grid = hover_grid(loaded.field, max_cells=HOVER_CELLS)
        return trace(grid, band_names=loaded.field.band_names)
    return preview_store().get_or_make(("hover", loaded.key), make)


def graticule(loaded: LoadedField) -> list:
    """The field's RA/Dec grid lines (none without a WCS), made once."""
    from galaxy_core.display.sky_grid import graticule as make

    f = loaded.field
    return preview_store().get_or_make(("graticule", loaded.key),
                                       lambda: make(f.wcs, f.width, f.height))


_MODEL_LOCK = threading.Lock()
_loaded: dict[str, object] = {}


def classifier():
    """The shipped morphology classifier (loaded once, by whichever thread asks first), or None
    when its weights are not installed."""
    if not shipped.classifier_available():
        return None
    with _MODEL_LOCK:
        _loaded["classifier"] = pipeline.load_classifier()
        return _loaded["classifier"]


@dataclass(frozen=True, eq=False)
class Weights:
    """The classifier weights runs use: the shipped ones, or others known by ``key``.

    Attributes:
        key: ``shipped``, or a name unique to the weights (part of the run key).
        name: what the page calls them.
        make: builds their Classifier (None: the shipped one); called on the worker thread.
    """

    key: str = "shipped"
    name: str = "the shipped weights"
    make: Callable[[], object] | None = None

    def classifier(self):
        """Their classifier, built once per process (the shipped one through :func:`classifier`)."""
        if self.make is None:
            return classifier()
        return _classifiers().get_or_make(self.key, self.make)


#: Memory a loaded ResNet18 classifier holds (weights and engine), bytes.
CLASSIFIER_BYTES = 100 * 2**20


@st.cache_resource
def _classifiers() -> SizedLRU:
    """Classifiers of other weights than the shipped ones (uploaded, adapted), by key."""
    return SizedLRU(3 * CLASSIFIER_BYTES, max_entries=3, sizeof=lambda _: CLASSIFIER_BYTES)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Reading the weights...")
def uploaded_checkpoint(key: str, _data: bytes, name: str):
    """An uploaded weights file's checkpoint, validated once per content (``key``: its digest).

    Raises:
        GalaxyCoreError: bytes that are not a classifier checkpoint.
    """
    from galaxy_core.morphology.checkpoint import from_bytes

    return from_bytes(_data, name=name)


def classifier_if_loaded():
    """The classifier when some thread loaded it already, else None (never waits for a load)."""
    return _loaded.get("classifier")


@dataclass(eq=False)
class StoredRun:
    """One run's result (the core's :class:`~galaxy_core.pipeline.RunResult`, finished or
    partial) with what the app derives from it once: its catalogue frame and thumbnails."""

    result: pipeline.RunResult
    key: tuple | None = None
    thumbs: dict[int, bytes] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _frame: pd.DataFrame | None = field(default=None, repr=False)
    _boxes: np.ndarray | None = field(default=None, repr=False)
    _text: object = field(default=None, repr=False)
    _derived: dict = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return self.result.complete

    def nbytes(self) -> int:
        """Memory held: the render, about 2 KB per detection, the thumbnails."""
        with self.lock:
            thumbs = sum(len(t) for t in self.thumbs.values())
        return int(self.result.rgb.nbytes) + 4096 * len(self.result.detections) + thumbs

    def frame(self) -> pd.DataFrame:
        """The catalogue DataFrame of the detections (made once; do not modify it)."""
        with self.lock:
            if self._frame is None:
                self._frame = to_frame(list(self.result.detections))
            return self._frame

    def derived(self, key: Hashable, make: Callable[[], object]):
        """A value derived from this run, made once per ``key`` (treat it as read-only)."""
        with self.lock:
            if key in self._derived:
                return self._derived[key]
        value = make()
        with self.lock:
            return self._derived.setdefault(key, value)

    def row_text(self):
        """Each detection's box path and hover text for the field figure (written once)."""
        from app.field_figure import row_text

        frame = self.frame()
        with self.lock:
            if self._text is None:
                self._text = row_text(frame)
            return self._text

    def boxes(self) -> np.ndarray:
        """The run's boxes (N, 4), framing's ``others`` for previews (made once)."""
        with self.lock:
            if self._boxes is None:
                from galaxy_core.morphology.framing import detection_boxes

                self._boxes = detection_boxes(self.result.detections)
            return self._boxes

    def detection(self, det_id: int) -> Detection | None:
        """The detection numbered ``det_id``."""
        return next((d for d in self.result.detections if d.id == det_id), None)

    def thumbnails(self, ids: Sequence[int], *, origin_lower: bool) -> list[bytes]:
        """JPEG cut-outs of the boxes of ``ids`` in the run's rendered field (made once each)."""
        by_id = {d.id: d for d in self.result.detections}
        out = []
        for i in ids:
            with self.lock:
                jpeg = self.thumbs.get(i)
            if jpeg is None:
                jpeg = jpeg_bytes(thumbnail(self.result.rgb, by_id[i], origin_lower=origin_lower))
                with self.lock:
                    self.thumbs[i] = jpeg
            out.append(jpeg)
        return out


def thumbnail(rgb: np.ndarray, d: Detection, *, size: int = THUMB_PX, origin_lower: bool,
              min_side: int = 16) -> np.ndarray:
    """A square cut of the rendered field around a detection (1.5 x its longer side, at least
    ``min_side`` px), resized to ``size``: pixels kept sharp when enlarged 3x or more."""
    h, w = rgb.shape[:2]
    half = max(min_side / 2.0, 0.75 * max(d.width, d.height))
    c0, c1 = int(max(0, np.floor(d.x - half))), int(min(w, np.ceil(d.x + half + 1)))
    r0, r1 = int(max(0, np.floor(d.y - half))), int(min(h, np.ceil(d.y + half + 1)))
    cut = np.ascontiguousarray(rgb[r0:r1, c0:c1])
    if origin_lower:
        cut = cut[::-1]
    side = max(cut.shape[:2])
    method = (Image.Resampling.NEAREST if side * 3 <= size else
              Image.Resampling.LANCZOS if side < size else Image.Resampling.BOX)
    return np.asarray(Image.fromarray(np.ascontiguousarray(cut)).resize((size, size), method))
