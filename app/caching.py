"""Everything the app computes once and shares across sessions.

Fields, renders and models live in ``st.cache_resource`` (one object per
process, never copied: they are treated as read-only, so concurrent sessions
can share them).  Model runs go through :class:`RunStore`, a small locked LRU
held in ``st.cache_resource``, so a run can drive the caller's progress bar and
two sessions asking for the same run compute it once.  Cache keys are a
field's key (demo name or a digest of the uploaded bytes) plus the render and
run settings, so changing a threshold or a filter never re-runs a model.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, field

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from galaxy_core import pipeline, shipped
from galaxy_core.catalog.table import to_frame
from galaxy_core.display import RenderSettings, downsample, preview_scale, render
from galaxy_core.io.demo import DEMO_FIELDS
from galaxy_core.types import Detection, Field

#: Longest side of the picture shown in the browser, px (display only: the
#: models always see the full-resolution field).
DISPLAY_MAX_SIDE = 1024
THUMB_PX = 48


def digest(data: bytes) -> str:
    """A short content hash of uploaded bytes (cache key)."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def settings_key(settings) -> tuple:
    """A hashable key of a frozen settings dataclass."""
    return (type(settings).__name__, *astuple(settings))


@st.cache_resource(show_spinner="Loading the demo field...")
def demo_field(name: str) -> Field:
    """A bundled field by its DEMO_FIELDS name."""
    return DEMO_FIELDS[name]()


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Reading the file...")
def uploaded_field(key: str, _data: bytes, name: str, hdu: int | None) -> Field:
    """One uploaded FITS or picture (``key`` is its digest)."""
    from galaxy_core.io.load import load_field

    return load_field(_data, name=name, hdu=hdu)


@st.cache_resource(max_entries=2, ttl=3600, show_spinner="Reading the three bands...")
def uploaded_bands(key: str, _data: tuple[bytes, bytes, bytes], names: tuple[str, str, str],
                   hdu: int | None) -> Field:
    """Three uploaded one-band files as R, G, B (``key`` joins their digests)."""
    from galaxy_core.io.load import load_bands

    field_ = load_bands(list(_data), names=list(names), hdu=hdu)
    return field_


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def hdu_list(key: str, _data: bytes) -> list:
    """The HDUs of an uploaded FITS file ([] for a picture)."""
    from galaxy_core.io.load import hdus_of

    return hdus_of(_data)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def small_field(key: str, _field: Field, max_side: int) -> tuple[Field, int]:
    """The field block-averaged for display and previews, and the block size."""
    factor = preview_scale(_field, max_side)
    return downsample(_field, factor), factor


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def preview_rgb(key: str, _field: Field, rkey: tuple, _settings: RenderSettings,
                max_side: int = DISPLAY_MAX_SIDE) -> tuple[np.ndarray, int]:
    """A render of the downsampled field (uint8, read-only) and its block size."""
    small, factor = small_field(key, _field, max_side)
    rgb = render(small, _settings)
    rgb.flags.writeable = False
    return rgb, factor


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def preview_uri(key: str, _field: Field, rkey: tuple, _settings: RenderSettings,
                max_side: int = DISPLAY_MAX_SIDE) -> tuple[str, int]:
    """The display render as a JPEG data URI, and its block size."""
    rgb, factor = preview_rgb(key, _field, rkey, _settings, max_side)
    return data_uri(rgb, fmt="JPEG"), factor


@st.cache_resource(show_spinner="Loading the classifier...")
def classifier():
    """The shipped morphology classifier, or None when its weights are not installed."""
    if not shipped.classifier_available():
        return None
    return shipped.load_classifier()


@st.cache_resource(show_spinner="Loading the detector...")
def detector():
    """The shipped YOLO detector, or None when its weights are not installed."""
    if "yolo" not in shipped.available_methods():
        return None
    return shipped.load_detector()


def data_uri(rgb: np.ndarray, *, fmt: str = "PNG") -> str:
    """A uint8 RGB array as a ``data:image/...;base64`` URI."""
    buf = io.BytesIO()
    img = Image.fromarray(np.ascontiguousarray(rgb))
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=88)
    else:
        img.save(buf, format="PNG", compress_level=1)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buf.getvalue()).decode()}"


@dataclass
class StoredRun:
    """One finished run (the core's :class:`~galaxy_core.pipeline.RunResult`) with what the
    app derives from it once: its catalogue frame and the table's thumbnails."""

    result: pipeline.RunResult
    thumbs: dict[int, str] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _frame: pd.DataFrame | None = field(default=None, repr=False)
    _boxes: np.ndarray | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        """The catalogue DataFrame of the detections (made once; do not modify it)."""
        with self.lock:
            if self._frame is None:
                self._frame = to_frame(list(self.result.detections))
            return self._frame

    def boxes(self) -> np.ndarray:
        """The run's boxes (N, 4), framing's ``others`` for previews (made once)."""
        with self.lock:
            if self._boxes is None:
                from galaxy_core.morphology.framing import detection_boxes

                self._boxes = detection_boxes(self.result.detections)
            return self._boxes

    def thumbnails(self, ids: Sequence[int], *, origin_lower: bool) -> list[str]:
        """PNG data URIs of the boxes of ``ids`` in the run's rendered field (made once each)."""
        by_id = {d.id: d for d in self.result.detections}
        out = []
        for i in ids:
            with self.lock:
                uri = self.thumbs.get(i)
            if uri is None:
                uri = data_uri(thumbnail(self.result.rgb, by_id[i], origin_lower=origin_lower))
                with self.lock:
                    self.thumbs[i] = uri
            out.append(uri)
        return out


def thumbnail(rgb: np.ndarray, d: Detection, *, size: int = THUMB_PX, origin_lower: bool) -> np.ndarray:
    """A square cut of the rendered field around a detection (1.5 x its longer side), resized."""
    h, w = rgb.shape[:2]
    half = max(4.0, 0.75 * max(d.width, d.height))
    c0, c1 = int(max(0, np.floor(d.x - half))), int(min(w, np.ceil(d.x + half + 1)))
    r0, r1 = int(max(0, np.floor(d.y - half))), int(min(h, np.ceil(d.y + half + 1)))
    cut = np.ascontiguousarray(rgb[r0:r1, c0:c1])
    if origin_lower:
        cut = cut[::-1]
    return np.asarray(Image.fromarray(np.ascontiguousarray(cut)).resize((size, size), Image.Resampling.BOX))


class RunStore:
    """A process-wide LRU of run results, safe for concurrent sessions."""

    def __init__(self, max_entries: int = 12) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple, StoredRun] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"RunStore({len(self._items)}/{self.max_entries} runs)"

    def clear(self) -> None:
        """Forget every stored run."""
        with self._lock:
            self._items.clear()
            self._key_locks.clear()

    def get(self, key: tuple) -> StoredRun | None:
        with self._lock:
            result = self._items.get(key)
            if result is not None:
                self._items.move_to_end(key)
            return result

    def get_or_run(self, key: tuple, compute: Callable[[], StoredRun]) -> StoredRun:
        """The stored result of ``key``, computing it once (other callers wait for it)."""
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            found = self.get(key)
            if found is not None:
                return found
            result = compute()
            with self._lock:
                self._items[key] = result
                while len(self._items) > self.max_entries:
                    old, _ = self._items.popitem(last=False)
                    self._key_locks.pop(old, None)
            return result


@st.cache_resource
def run_store() -> RunStore:
    """The one RunStore of this server process."""
    return RunStore()
