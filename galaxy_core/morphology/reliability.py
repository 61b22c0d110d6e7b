"""Whether an object is large and bright enough for the classifier's morphology to mean something.

A galaxy only a few pixels across shows no arms, bar or disc; the classifier
still returns six probabilities for it.  ``bench/bench_resolution.py``
measures where its classes stop meaning anything: the 1,253 labelled
validation galaxies, blurred by a Gaussian PSF of FWHM 1.6 px (as in drizzled
HST images) and area-averaged until they span N px, then classified as the app
classifies crops (no TTA); ``--snr`` adds sky noise.  For the shipped
classifier (stage 11, trained with noisy
:class:`~galaxy_core.morphology.transforms.DistantGalaxy` views) accuracy over the
five galaxy classes is 0.843 at full size, 0.824 at 32 px and 0.784 at 16 px
without noise, and 0.778 / 0.736 / 0.661 at 16 px for a peak S/N of 20 / 10 /
5 (stage 10, trained without the noise, kept 0.808 at 16 px without noise
but fell to 0.555 / 0.458 / 0.497 with it).  The full tables are in
``weights/MODEL_CARD.md`` ("Accuracy versus galaxy size").

A :class:`ReliabilityRule` says when a class is trusted: from a measured
extent of ``min_extent_px`` (the smallest size measured from which accuracy
with the PSF stays at least :data:`MIN_ACCURACY`, :func:`smallest_reliable_size`)
and, where its S/N was measured, a peak S/N of ``min_peak_snr`` (the lowest S/N
from which objects that large stay within :data:`SNR_TOLERANCE` of their best,
:func:`smallest_reliable_snr`).  The rule belongs to the weights: the benches
derive it and store it in the checkpoint (``bench_resolution.py`` and
``bench_reliability.py --update-checkpoint``, through
:mod:`galaxy_core.morphology.checkpoint`), and the classifier reads it from
there; for the shipped weights it is 24 px and peak S/N 60.  Below it the
catalogue's ``morph_reliable`` column is False and the app says the class is
unreliable.  The extent is the one framing measures for every classified
detection (:attr:`Detection.extent_px`: 4 x the rms radius along the major
axis of the object's segment, field px).

Size is not all: noise hides arms and discs too.  :class:`AccuracyGrid` holds
the accuracy measured by ``bench/bench_reliability.py`` for each cell of
measured extent x measured peak S/N (:attr:`Detection.peak_snr`), and every
classified detection carries its cell's value (:attr:`Detection.morph_accuracy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Accuracy over the galaxy classes that the rule asks for at every size from the threshold up.
MIN_ACCURACY = 0.80
#: How far below its best S/N bin the accuracy of large objects may fall before noise makes it unreliable.
SNR_TOLERANCE = 0.05


def smallest_reliable_size(accuracy_by_size: dict[float, float], *,
                           min_accuracy: float = MIN_ACCURACY) -> float | None:
    """The smallest size (px) from which every measured size has ``accuracy >= min_accuracy``.

    Args:
        accuracy_by_size: accuracy measured at each galaxy size, px -> 0..1.
        min_accuracy: the floor.

    Returns:
        That size, or None when even the largest size measured falls below the floor.
    """
    best = None
    for size in sorted(accuracy_by_size, reverse=True):
        if accuracy_by_size[size] < min_accuracy:
            break
        best = float(size)
    return best


def _as_float_array(values) -> np.ndarray:
    """float array of ``values`` (scalar or sequence) with None as NaN."""
    if values is None:
        return np.asarray(np.nan)
    arr = np.asarray(values, dtype=object)
    return np.where(np.equal(arr, None), np.nan, arr).astype(float)


@dataclass(frozen=True)
class ReliabilityRule:
    """When the classifier's class of an object is trusted (stored with its weights).

    Attributes:
        min_extent_px: the smallest measured extent, px.
        min_peak_snr: the smallest measured peak S/N (None: size alone decides).
    """

    min_extent_px: float
    min_peak_snr: float | None = None

    def reliable(self, extent_px, peak_snr=None) -> np.ndarray:
        """Whether each class can be trusted: extent >= ``min_extent_px`` and peak S/N >= ``min_peak_snr``.

        Args:
            extent_px: the framing's extent, px (scalar or array; NaN/None when unmeasured:
                not reliable).
            peak_snr: the framing's peak S/N (NaN/None where not measured: the size rule
                alone decides).
        """
        extent = _as_float_array(extent_px)
        snr = _as_float_array(peak_snr)
        floor = -np.inf if self.min_peak_snr is None else self.min_peak_snr
        with np.errstate(invalid="ignore"):
            return (np.nan_to_num(extent, nan=-1.0) >= self.min_extent_px) & ~(snr < floor)

    def describe(self) -> str:
        """Where classes stop being trusted, for messages: "under 24 px across or fainter than peak S/N 60"."""
        text = f"under {self.min_extent_px:.0f} px across"
        if self.min_peak_snr is not None:
            text += f" or fainter than peak S/N {self.min_peak_snr:.0f}"
        return text

    def why_not(self, extent_px: float | None, peak_snr: float | None) -> str | None:
        """``"small"``, ``"faint"`` or None (trusted) for one object."""
        if extent_px is None or not extent_px >= self.min_extent_px:
            return "small"
        if self.min_peak_snr is not None and peak_snr is not None and peak_snr < self.min_peak_snr:
            return "faint"
        return None


def smallest_reliable_snr(grid: AccuracyGrid, *, min_extent_px: float,
                          tolerance: float = SNR_TOLERANCE) -> float | None:
    """The lowest S/N edge from which objects >= ``min_extent_px`` stay within ``tolerance`` of their best.

    The grid's rows from ``min_extent_px`` up are pooled per S/N bin
    (:meth:`AccuracyGrid.accuracy_by_snr`); walking down from the highest S/N
    bin, the rule stops at the first bin whose accuracy is more than
    ``tolerance`` below the best bin's.

    Returns:
        That bin's lower edge, or None when no row starts at or above ``min_extent_px``.
    """
    edges, acc, _ = grid.accuracy_by_snr(min_extent_px)
    if not np.isfinite(acc).any():
        return None
    floor = np.nanmax(acc) - tolerance
    best = None
    for i in range(len(acc) - 1, -1, -1):
        if np.isnan(acc[i]):
            continue
        if acc[i] < floor:
            break
        best = float(edges[i])
    return best


#: Fewest validation galaxies a grid cell needs for its accuracy to be used.
MIN_CELL_COUNT = 40


@dataclass(frozen=True)
class AccuracyGrid:
    """The classifier's accuracy over the galaxy classes by measured extent and peak S/N.

    Measured by ``bench/bench_reliability.py`` on validation galaxies shown as
    distant galaxies in a field (PSF, pixel integration, sky noise) and binned
    by what framing measures on each (:attr:`~galaxy_core.morphology.framing.Extent.extent_px`
    and :attr:`~galaxy_core.morphology.framing.Extent.peak_snr`), so the app can look up
    the accuracy to expect for any classified detection.  Stored in the
    classifier's checkpoint as ``accuracy_grid`` (:meth:`as_dict`).

    Attributes:
        extent_edges_px: ascending bin edges of the extent, px (the last may be inf).
        snr_edges: ascending bin edges of the peak S/N (the last may be inf).
        accuracy: rows = extent bins, columns = S/N bins; share classified
            correctly (Star/Artifact counts as wrong), NaN where fewer than
            :data:`MIN_CELL_COUNT` galaxies fell in the cell.
        counts: galaxies in each cell.
    """

    extent_edges_px: tuple[float, ...]
    snr_edges: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]
    counts: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        shape = (len(self.extent_edges_px) - 1, len(self.snr_edges) - 1)
        if min(shape) < 1 or np.shape(self.accuracy) != shape or np.shape(self.counts) != shape:
            raise ValueError(f"AccuracyGrid: edges give {shape} cells, accuracy {np.shape(self.accuracy)}, "
                             f"counts {np.shape(self.counts)}.")
        if np.any(np.diff(self.extent_edges_px) <= 0) or np.any(np.diff(self.snr_edges) <= 0):
            raise ValueError("AccuracyGrid: bin edges must increase.")

    @classmethod
    def from_samples(cls, extent_px, peak_snr, correct, *, extent_edges_px, snr_edges,
                     min_count: int = MIN_CELL_COUNT) -> AccuracyGrid:
        """The grid of per-galaxy results: extents (px), peak S/N and whether each was classified right."""
        extent, snr = np.asarray(extent_px, dtype=float), np.asarray(peak_snr, dtype=float)
        ok = np.asarray(correct, dtype=bool)
        ei, si = _bin(extent, extent_edges_px), _bin(snr, snr_edges)
        shape = (len(extent_edges_px) - 1, len(snr_edges) - 1)
        inside = (ei >= 0) & (si >= 0)
        flat = np.ravel_multi_index((ei[inside], si[inside]), shape)
        n = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)
        hits = np.bincount(flat, weights=ok[inside], minlength=n.size).reshape(shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(n >= min_count, hits / n, np.nan)
        return cls(tuple(float(e) for e in extent_edges_px), tuple(float(e) for e in snr_edges),
                   tuple(tuple(round(float(a), 4) for a in row) for row in acc),
                   tuple(tuple(int(c) for c in row) for row in n))

    def expected_accuracy(self, extent_px, peak_snr) -> np.ndarray:
        """Accuracy of each object's cell (NaN outside the grid, in a sparse cell or when unmeasured)."""
        extent, snr = _as_float_array(extent_px), _as_float_array(peak_snr)
        ei, si = _bin(extent, self.extent_edges_px), _bin(snr, self.snr_edges)
        table = np.asarray(self.accuracy, dtype=float)
        inside = (ei >= 0) & (si >= 0)
        return np.where(inside, table[np.maximum(ei, 0), np.maximum(si, 0)], np.nan)

    def accuracy_by_snr(self, min_extent_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower S/N edges, accuracy, counts) per S/N bin, pooling the rows that start at ``min_extent_px`` or above.

        Cells without an accuracy (too few galaxies) are left out of the pool.
        """
        rows = np.asarray(self.extent_edges_px[:-1]) >= min_extent_px
        acc = np.asarray(self.accuracy, dtype=float)[rows]
        n = np.where(np.isnan(acc), 0, np.asarray(self.counts, dtype=float)[rows])
        hits = np.nansum(acc * n, axis=0)
        total = n.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self.snr_edges[:-1]), np.where(total > 0, hits / total, np.nan), total.astype(int)

    def as_dict(self) -> dict:
        """Plain lists (NaN as None), for a ``weights_only`` checkpoint or JSON."""
        return {"extent_edges_px": list(self.extent_edges_px), "snr_edges": list(self.snr_edges),
                "accuracy": [[None if np.isnan(a) else a for a in row] for row in self.accuracy],
                "counts": [list(row) for row in self.counts]}

    @classmethod
    def from_dict(cls, d: dict) -> AccuracyGrid:
        return cls(tuple(float(e) for e in d["extent_edges_px"]), tuple(float(e) for e in d["snr_edges"]),
                   tuple(tuple(np.nan if a is None else float(a) for a in row) for row in d["accuracy"]),
                   tuple(tuple(int(c) for c in row) for row in d["counts"]))


def _bin(values: np.ndarray, edges) -> np.ndarray:
    """Index of the bin ``edges[i] <= v < edges[i + 1]`` of each value; -1 outside or NaN."""
    edges = np.asarray(edges, dtype=float)
    idx = np.searchsorted(edges, values, side="right") - 1
    return np.where(np.isfinite(values) & (idx >= 0) & (idx < len(edges) - 1), idx, -1)
