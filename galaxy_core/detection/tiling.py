"""Whole-field detection from tiles: slice, shift back, merge across seams (numpy, Pillow).

A field far larger than the network's input is cut into ``tile``-px squares
that overlap by ``overlap`` px (the last tile of a row or column is flush with
the field's edge).  Along one axis, any object at most ``overlap`` px long lies
wholly inside at least one tile, so a box that touches an *inner* tile edge
(within ``margin`` px; an edge inside the field, not the field's own border) is
an object cut by the tile and is dropped: a neighbouring tile sees it whole.
Objects longer than the overlap may be cut in every tile; a coarse pass on the
field block-averaged by an integer factor finds them, and only its boxes at
least ``overlap`` px long (in field pixels) are kept.  Duplicates (the same
object seen whole by two tiles, or by a tile and the coarse pass) are merged
by score-weighted box fusion of clusters with IoU above a threshold.

For fields whose objects are only a few pixels across, the fine pass can run
on the field upsampled by a factor in half steps (1.5, 2, ...; bicubic): the
network then sees small galaxies at the sizes it was trained on.  Tiles then
cover about ``tile / upsample`` field px and overlap by ``overlap * upsample``
upsampled px (rounded up), so objects up to ``overlap`` field px still lie
whole in some tile.

Coordinates are pixel edges in the field's 0-based convention: pixel ``i``
spans ``[i - 0.5, i + 0.5]`` (see :mod:`galaxy_core.types`).

>>> [t.x0 for t in make_tiles(100, 1000, tile=400, overlap=50)[:3]]
[0, 350, 600]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from galaxy_core.detection.base import numbered
from galaxy_core.detection.boxes import clip_boxes, merge_boxes
from galaxy_core.display.picture import ArrayPicture, Picture, as_picture
from galaxy_core.sky import with_sky
from galaxy_core.types import Detection

#: The learned detector's tile side (its input size) and the tiles' overlap, px: objects up to
#: the overlap long lie whole in some tile.
TILE_PX = 640
OVERLAP_PX = 96

#: predict(tiles) -> per tile (tile-local edge boxes (n, 4), scores (n,), labels (n,)).
Predict = Callable[[list[np.ndarray]], Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class Tile:
    """One tile: field pixels ``[x0, x1) x [y0, y1)`` and which of its edges are inner.

    ``inner`` is (left, top, right, bottom): True where that edge lies inside the
    field (a neighbouring tile continues there), False at the field's border.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    inner: tuple[bool, bool, bool, bool]

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets along one axis of ``length`` px: step ``tile - overlap``, last flush."""
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need tile > 0 and 0 <= overlap < tile, got {tile}, {overlap}")
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def make_tiles(height: int, width: int, *, tile: int, overlap: int) -> list[Tile]:
    """The tiles covering a ``height`` x ``width`` image, row by row."""
    tiles = []
    for y0 in tile_starts(height, tile, overlap):
        for x0 in tile_starts(width, tile, overlap):
            x1, y1 = min(x0 + tile, width), min(y0 + tile, height)
            inner = (x0 > 0, y0 > 0, x1 < width, y1 < height)
            tiles.append(Tile(x0, y0, x1, y1, inner))
    return tiles


def cut_tile(image: np.ndarray | Picture, t: Tile, *, size: int, pad_value: int = 114) -> np.ndarray:
    """The tile's pixels (size, size, C), padded with ``pad_value`` beyond the field."""
    piece = (image.region(t.y0, t.y1, t.x0, t.x1) if isinstance(image, Picture)
             else image[t.y0 : t.y1, t.x0 : t.x1])
    if piece.shape[:2] == (size, size):
        return np.ascontiguousarray(piece)
    out = np.full((size, size, *piece.shape[2:]), pad_value, dtype=piece.dtype)
    out[: piece.shape[0], : piece.shape[1]] = piece
    return out


def touches_inner_edge(boxes: np.ndarray, t: Tile, *, margin: float = 2.0) -> np.ndarray:
    """True for tile-local boxes (n, 4) within ``margin`` px of one of the tile's inner edges."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    left, top, right, bottom = t.inner
    lo_x, lo_y = -0.5 + margin, -0.5 + margin
    hi_x, hi_y = t.width - 0.5 - margin, t.height - 0.5 - margin
    cut = np.zeros(len(boxes), dtype=bool)
    if left:
        cut |= boxes[:, 0] <= lo_x
    if top:
        cut |= boxes[:, 1] <= lo_y
    if right:
        cut |= boxes[:, 2] >= hi_x
    if bottom:
        cut |= boxes[:, 3] >= hi_y
    return cut


def to_field(boxes: np.ndarray, t: Tile, *, factor: float | tuple[float, float] = 1) -> np.ndarray:
    """Tile-local boxes (n, 4) in field coordinates.

    ``factor`` is field px per tile px, one number or (x, y): an integer undoes
    a block-average, ``1 / upsample`` (per axis: field side / upsampled side)
    undoes an upsampling.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    fx, fy = (factor, factor) if np.isscalar(factor) else factor
    shifted = boxes + np.array([t.x0, t.y0, t.x0, t.y0], dtype=float)
    return (shifted + 0.5) * np.array([fx, fy, fx, fy], dtype=float) - 0.5


def upsample_fits(upsample, *, tile: int, overlap: int) -> bool:
    """Whether ``upsample`` is >= 1 in half steps and its upsampled tiles overlap by < half a tile."""
    try:
        value = float(upsample)
    except (TypeError, ValueError):
        return False
    return (1 <= value <= tile and (2 * value).is_integer()
            and upsampled_overlap(overlap, value) < tile / 2)


def upsampled_overlap(overlap: int, upsample: float) -> int:
    """Overlap of upsampled tiles (px) that keeps objects up to ``overlap`` field px whole."""
    return int(np.ceil(overlap * upsample))


def upsampled(image: np.ndarray, factor: float) -> np.ndarray:
    """Bicubic upsampling of an (H, W, 3) uint8 image by ``factor`` (sides rounded; pixel centres kept).

    The exact scale per axis is the new side over the old one (see :func:`to_field`).
    """
    if factor <= 1:
        return image
    from PIL import Image

    h, w = image.shape[:2]
    size = (round(w * factor), round(h * factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def coarse_factor(height: int, width: int, tile: int) -> int:
    """Block size that fits the whole field into about one tile (at least 2)."""
    return max(2, int(np.ceil(max(height, width) / tile)))


@dataclass(frozen=True)
class TileJob:
    """One tile to predict: its pixels in the ``source`` picture (``"fine"`` or ``"coarse"``) and
    ``back``, field px per source px (one number, or (x, y))."""

    tile: Tile
    source: str
    back: float | tuple[float, float]


def tile_jobs(height: int, width: int, *, tile: int, overlap: int, coarse: bool = True,
              upsample: float = 1) -> list[TileJob]:
    """The tiles of a ``height`` x ``width`` field: the fine ones row by row, then the coarse pass's.

    The same list whether the field is processed whole or window by window, so
    both see the same tiles (and batches, when run in this order).
    """
    if not upsample_fits(upsample, tile=tile, overlap=overlap):
        raise ValueError(f"upsample must be >= 1 in half steps with overlap x upsample < tile / 2, "
                         f"not {upsample!r}")
    fine_h, fine_w = (height, width) if upsample <= 1 else (round(height * upsample), round(width * upsample))
    back = (width / fine_w, height / fine_h)  # field px per upsampled px, x and y
    jobs = [TileJob(t, "fine", back) for t in make_tiles(
        fine_h, fine_w, tile=tile, overlap=upsampled_overlap(overlap, float(upsample)))]
    if coarse and max(height, width) > overlap:
        factor = coarse_factor(height, width, tile)
        small_h, small_w = -(-height // factor), -(-width // factor)
        jobs += [TileJob(t, "coarse", factor)
                 for t in make_tiles(small_h, small_w, tile=tile, overlap=overlap)]
    return jobs


def run_jobs(jobs: Sequence[TileJob], sources: dict[str, Picture], predict: Predict, *, tile: int,
             overlap: int, margin: float = 2.0, batch: int = 8,
             progress: Callable[[float, str], None] | None = None,
             name: str = "Detector") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``predict`` over ``jobs`` in batches: (boxes, scores, labels) in field coordinates, unmerged.

    Fine tiles drop boxes cut by an inner edge; the coarse pass keeps only boxes at
    least ``overlap`` px long in field pixels.
    """
    boxes, scores, labels = [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0, dtype=int)]
    for start in range(0, len(jobs), batch):
        chunk = jobs[start : start + batch]
        pixels = [cut_tile(sources[job.source], job.tile, size=tile) for job in chunk]
        for job, found in zip(chunk, predict(pixels), strict=True):
            b, s, c = _kept(job, found, margin=margin, overlap=overlap)
            boxes.append(b)
            scores.append(s)
            labels.append(c)
        if progress:
            done = min(len(jobs), start + len(chunk))
            progress(done / len(jobs), f"{name}: {done} of {len(jobs)} tiles")
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels)


def _kept(job: TileJob, found, *, margin: float, overlap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One tile's boxes (field coordinates) that its tile may speak for, with scores and labels."""
    t = job.tile
    b, s, c = np.asarray(found[0], float).reshape(-1, 4), np.asarray(found[1], float), np.asarray(found[2])
    keep = ~touches_inner_edge(b, t, margin=margin)
    keep &= (b[:, 0] < t.width - 0.5) & (b[:, 1] < t.height - 0.5)  # not all padding
    field_boxes = to_field(b[keep], t, factor=job.back)
    s, c = s[keep], c[keep]
    if job.source == "coarse":  # the coarse pass only speaks for objects the tiles may cut
        longest = np.maximum(field_boxes[:, 2] - field_boxes[:, 0], field_boxes[:, 3] - field_boxes[:, 1])
        big = longest >= overlap
        field_boxes, s, c = field_boxes[big], s[big], c[big]
    return field_boxes, s, c


def tile_sources(image: np.ndarray | Picture, jobs: Sequence[TileJob], *, tile: int,
                 upsample: float = 1) -> dict[str, Picture]:
    """The pictures ``jobs`` cut their tiles from: the fine one (upsampled when asked) and the
    coarse pass's block average, made only when a job needs it."""
    picture = as_picture(image)
    sources: dict[str, Picture] = {}
    if any(job.source == "fine" for job in jobs):
        if upsample > 1:
            if not isinstance(picture, ArrayPicture):
                raise ValueError("the small-object pass needs the whole rendered field in memory")
            sources["fine"] = ArrayPicture(upsampled(picture.rgb, float(upsample)))
        else:
            sources["fine"] = picture
    if any(job.source == "coarse" for job in jobs):
        factor = coarse_factor(picture.height, picture.width, tile)
        sources["coarse"] = ArrayPicture(picture.coarse(factor))
    return sources


def finish_tiles(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, names: dict[int, str], *,
                 iou: float, conf: float, height: int, width: int, wcs=None) -> list[Detection]:
    """The tiles' boxes merged across seams and kept from ``conf``: the field's detections,
    best first, numbered, clipped to the field, labelled by ``names`` (class id -> label),
    with RA/Dec when ``wcs`` is given."""
    boxes, scores, labels = merge_boxes(boxes, scores, labels, iou=iou)
    keep = scores >= conf
    boxes = clip_boxes(boxes[keep], height, width)
    detections = [
        Detection(id=0, x_min=float(b[0]), y_min=float(b[1]), x_max=float(b[2]),
                  y_max=float(b[3]), x=float((b[0] + b[2]) / 2), y=float((b[1] + b[3]) / 2),
                  score=float(s), label=names.get(int(c), "object"))
        for b, s, c in zip(boxes, scores[keep], labels[keep], strict=True)
        if b[2] - b[0] > 0 and b[3] - b[1] > 0
    ]
    return with_sky(numbered(detections), wcs)


def detect_tiled(image: np.ndarray | Picture, predict: Predict, *, tile: int, overlap: int,
                 margin: float = 2.0, coarse: bool = True, iou: float = 0.5, batch: int = 8,
                 upsample: float = 1, progress: Callable[[float, str], None] | None = None,
                 name: str = "Detector") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``predict`` over the tiles of ``image`` (H, W, C) and merge: (boxes, scores, labels).

    ``image`` may be a :class:`~galaxy_core.display.picture.Picture` rendered window by
    window (tiles are cut in row order; the small-object pass needs the whole array).
    Fine tiles (of the field upsampled ``upsample`` times, overlapping by
    ``overlap * upsample`` of its px, rounded up) drop boxes cut by an inner edge; the
    coarse pass (when ``coarse``) keeps only boxes at least ``overlap`` px long
    in field pixels.  Boxes are in field edge coordinates, unclipped.
    """
    picture = as_picture(image)
    jobs = tile_jobs(picture.height, picture.width, tile=tile, overlap=overlap, coarse=coarse,
                     upsample=upsample)
    sources = tile_sources(picture, jobs, tile=tile, upsample=upsample)
    found = run_jobs(jobs, sources, predict, tile=tile, overlap=overlap, margin=margin, batch=batch,
                     progress=progress, name=name)
    return merge_boxes(*found, iou=iou)
