"""A portable pack of the classifier's framed training images: one ``.npz`` file.

:mod:`training.classifier.train` frames every labelled image once into a
uint8 cache.  That cache (0.7 GB at 128 px) and the source images it is made
from (``../shared/data``) are too large to travel to a lent GPU machine, whose
working tree may hold 64 MiB.  A pack holds the same framed images as WebP
(about 2 KB each at 128 px and quality 90; mean absolute error about 1.3 of
255, below the JPEG noise of the SDSS sources) with each item's label, split,
set and source, so training can run from it alone::

    python -m training.classifier.train --data ../shared/data --not-star-galaxies \\
        --gz2-two-way --size 96 --cache-size 128 --write-pack .gpu_classifier/classifier_pack.npz
    python -m training.classifier.train --pack .gpu_classifier/classifier_pack.npz ...
"""

from __future__ import annotations

import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.atomic import atomic_write
from galaxy_core.morphology.framing import FramingSettings

#: Format tag stored in every pack.
PACK_FORMAT = "training.classifier.pack/1"
#: The item columns a pack stores (``set``: "labelled", or a partial-label set name).
PACK_COLUMNS = ("source", "name", "label", "y", "split", "set")


@dataclass(frozen=True)
class FramedPack:
    """Framed images with their item table.

    Attributes:
        images: uint8 (N, S, S, 3) framed images, S px a side.
        items: N rows with the columns of :data:`PACK_COLUMNS`, in image order.
        framing: the framing settings the images were made with.
        split_seed: salt of the train/val split the ``split`` column holds.
    """

    images: np.ndarray
    items: pd.DataFrame
    framing: FramingSettings
    split_seed: int


def encode_images(images: np.ndarray, quality: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) images -> (one uint8 byte blob, int64 offsets (N + 1,)) of WebP files."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise GalaxyCoreError(f"expected uint8 (N, H, W, 3) images, got {images.dtype} {images.shape}")

    def one(img: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img)).save(buf, "WEBP", quality=quality, method=4)
        return buf.getvalue()

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        blobs = list(pool.map(one, images))
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8), offsets


def decode_images(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_images`: uint8 (N, H, W, 3); every image must have the same shape."""
    raw = np.asarray(blob, np.uint8).tobytes()

    def one(i: int) -> np.ndarray:
        with Image.open(io.BytesIO(raw[offsets[i]:offsets[i + 1]])) as im:
            return np.asarray(im.convert("RGB"))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = list(pool.map(one, range(len(offsets) - 1)))
    if not decoded:
        return np.zeros((0, 0, 0, 3), np.uint8)
    if len({d.shape for d in decoded}) != 1:
        raise GalaxyCoreError("the pack's images differ in size")
    return np.stack(decoded)


def write_pack(path: str | Path, pack: FramedPack, *, quality: int = 90) -> int:
    """Write ``pack`` to ``path`` (.npz, written through a temporary file); returns its size in bytes."""
    missing = [c for c in PACK_COLUMNS if c not in pack.items.columns]
    if missing:
        raise GalaxyCoreError(f"the item table lacks the columns {missing}")
    if len(pack.items) != len(pack.images):
        raise GalaxyCoreError(f"{len(pack.items)} items but {len(pack.images)} images")
    blob, offsets = encode_images(pack.images, quality)
    meta = {"format": PACK_FORMAT, "framing": pack.framing.as_dict(), "split_seed": int(pack.split_seed),
            "size": int(pack.images.shape[1]) if len(pack.images) else 0, "quality": int(quality)}
    columns = {f"col_{c}": pack.items[c].to_numpy().astype(np.int64 if c == "y" else str) for c in PACK_COLUMNS}
    with atomic_write(path) as fh:
        np.savez_compressed(fh, blob=blob, offsets=offsets, meta=np.array(json.dumps(meta)), **columns)
    return Path(path).stat().st_size


def read_pack(path: str | Path) -> FramedPack:
    """Read a pack written by :func:`write_pack`; a clear :class:`GalaxyCoreError` if it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != PACK_FORMAT:
                raise GalaxyCoreError(f"{path} is not a classifier pack ({meta.get('format')!r})")
            items = pd.DataFrame({c: z[f"col_{c}"] for c in PACK_COLUMNS})
            blob, offsets = z["blob"], z["offsets"]
    except (OSError, ValueError, KeyError) as exc:
        raise GalaxyCoreError(f"cannot read the classifier pack {path}: {exc}") from exc
    images = decode_images(blob, offsets)
    if len(images) != len(items):
        raise GalaxyCoreError(f"{path}: {len(items)} items but {len(images)} images")
    return FramedPack(images=images, items=items, framing=FramingSettings(**meta["framing"]),
                      split_seed=int(meta["split_seed"]))
