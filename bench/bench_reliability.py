"""What accuracy to expect from the classifier for an object of a given size and S/N in a field.

    python bench/bench_reliability.py --pack .gpu_classifier/classifier_pack.npz [--weights W] \
        [--update-checkpoint]

Each labelled validation galaxy (stars left out) is placed in a sky window
``--context`` times its extent, as a detection's window in a field is
(:func:`~galaxy_core.morphology.framing.frame_detection` cuts 3 x the box), then shown as
a distant galaxy (:func:`training.classifier.distant.shrink`: Gaussian PSF, pixel
integration, Gaussian sky noise of sigma = peak above sky / S/N) at every
``--sizes`` x ``--snr`` pair, and classified as the app classifies crops (no
TTA), through :func:`~galaxy_core.morphology.framing.frame_detection` with a box
as large as the galaxy, so framing measures what the app measures for a
detection: the extent (px, capped at twice the box) and the smoothed peak's
S/N (:class:`~galaxy_core.morphology.framing.FramedDetection`).  The galaxies of all pairs are pooled
and binned by those two *measured* values into an
:class:`~galaxy_core.morphology.reliability.AccuracyGrid` (share classified right,
a galaxy called Star/Artifact counting as wrong), which is printed with each
cell's count.  ``--update-checkpoint`` stores it in the checkpoint as
``accuracy_grid``; the pipeline then gives every classified detection its
cell's accuracy (``morph_accuracy``).  It also derives the peak S/N from which
objects of at least the checkpoint's ``min_extent_px`` keep their accuracy
(:func:`~galaxy_core.morphology.reliability.smallest_reliable_snr`), stored as
``min_peak_snr``: the classifier reads its rule from there
(:mod:`galaxy_core.morphology.checkpoint`).  ``--samples`` writes the per-galaxy values (npz); ``--from-samples``
re-bins such a file without classifying again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from galaxy_core.morphology import checkpoint  # noqa: E402
from galaxy_core.morphology.classifier import Classifier  # noqa: E402
from galaxy_core.morphology.framing import FramingSettings, frame_crop, frame_detection  # noqa: E402
from galaxy_core.morphology.reliability import (  # noqa: E402
    SNR_TOLERANCE,
    AccuracyGrid,
    smallest_reliable_snr,
)
from galaxy_core.types import CLASS_INDEX, STAR_CLASS, Detection  # noqa: E402
from training.classifier.distant import shrink  # noqa: E402
from training.classifier.train import add_validation_source, validation_sets  # noqa: E402

EXTENT_EDGES_PX = (0.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, np.inf)
SNR_EDGES = (0.0, 15.0, 30.0, 60.0, 120.0, 240.0, np.inf)

STAR = CLASS_INDEX[STAR_CLASS]


def in_sky_window(image: np.ndarray, extent_px: float, context: float, seed: int) -> np.ndarray:
    """``image`` (galaxy centred, ``extent_px`` across) padded with its own sky to ``context`` x the extent."""
    side = context * extent_px
    h, w = image.shape[:2]
    return frame_crop(image, ((w - 1) / 2.0, (h - 1) / 2.0), side, int(round(side)),
                      settings=FramingSettings(fill=1.0, min_side_px=2.0, max_shrink=1.0), seed=seed)


def centred_box(shape: tuple[int, ...], side_px: float) -> Detection:
    """A detector's box of ``side_px`` around the centre of an image of ``shape``."""
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    h = side_px / 2.0
    return Detection(1, cx - h, cy - h, cx + h, cy + h, cx, cy, 1.0)


def samples(clf: Classifier, images: np.ndarray, labels: np.ndarray, sizes, snrs, *,
            psf_fwhm_px: float, context: float) -> dict[str, np.ndarray]:
    """Per galaxy and (size, S/N) pair: nominal size and S/N, measured extent and S/N, and correctness."""
    nominal = clf.framing.fill * images.shape[1]
    windows = [in_sky_window(im, nominal, context, seed=i) for i, im in enumerate(images)]
    out: dict[str, list] = {k: [] for k in ("size_px", "snr", "extent_px", "peak_snr", "correct", "pred")}
    for n_px in sizes:
        for snr in snrs:
            t0 = time.perf_counter()
            small = (windows if not np.isfinite(n_px) else
                     [shrink(w, n_px / nominal, psf_fwhm_px=psf_fwhm_px, snr=snr, seed=i)
                      for i, w in enumerate(windows)])
            size = nominal if not np.isfinite(n_px) else n_px
            framed = [frame_detection(w, centred_box(w.shape, size), clf.input_size, settings=clf.framing)
                      for w in small]
            pred = clf.predict(np.stack([f.crop for f in framed]), tta=False, framed=True).argmax(axis=1)
            out["size_px"] += [n_px] * len(framed)
            out["snr"] += [snr] * len(framed)
            out["extent_px"] += [f.extent_px for f in framed]
            out["peak_snr"] += [f.peak_snr for f in framed]
            out["correct"] += list(pred == labels)
            out["pred"] += list(pred)
            print(f"size {n_px:>5g} px, S/N {snr:>3g}: measured extent "
                  f"{np.median([f.extent_px for f in framed]):5.1f} px, peak S/N "
                  f"{np.median([f.peak_snr for f in framed]):6.1f} (median), accuracy "
                  f"{np.mean(pred == labels):.3f}, called Star {np.mean(pred == STAR):.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            if not np.isfinite(n_px):
                break  # the galaxies as they are: no noise to add
    return {k: np.asarray(v) for k, v in out.items()}


def print_grid(grid: AccuracyGrid) -> None:
    """The grid as a table: rows = extent bins, columns = peak S/N bins, 'accuracy (count)'."""
    def span(lo, hi):
        return f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">={lo:g}"

    cols = [span(a, b) for a, b in zip(grid.snr_edges[:-1], grid.snr_edges[1:], strict=True)]
    print(f"{'extent px | peak S/N':>22s} " + " ".join(f"{c:>14s}" for c in cols))
    for i, (a, b) in enumerate(zip(grid.extent_edges_px[:-1], grid.extent_edges_px[1:], strict=True)):
        cells = [("  n/a" if np.isnan(acc) else f"{acc:.3f}") + f" ({n})"
                 for acc, n in zip(grid.accuracy[i], grid.counts[i], strict=True)]
        print(f"{span(a, b):>22s} " + " ".join(f"{c:>14s}" for c in cells))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_validation_source(p)
    p.add_argument("--weights", default=None, help="classifier checkpoint (default: the shipped one)")
    p.add_argument("--sizes", nargs="+", type=float, default=[6, 8, 10, 12, 16, 20, 24, 32, 48, np.inf],
                   help="galaxy extents to show, px (inf: as they are, about 77 px)")
    p.add_argument("--snr", nargs="+", type=float, default=[0, 30, 15, 8, 4, 2],
                   help="peak S/N of the added sky noise (0: none added)")
    p.add_argument("--psf", type=float, default=1.6, help="Gaussian PSF FWHM in output px")
    p.add_argument("--context", type=float, default=3.0, help="sky window side / galaxy extent")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", default=None, help="write the per-galaxy values here (npz)")
    p.add_argument("--from-samples", default=None,
                   help="re-bin the per-galaxy values of an earlier run of the same weights (npz)")
    p.add_argument("--json", default=None, help="write the grid here")
    p.add_argument("--update-checkpoint", action="store_true",
                   help="store the grid in the checkpoint as accuracy_grid")
    return p.parse_args(argv)


def load_or_measure_samples(clf: Classifier, args: argparse.Namespace) -> tuple[dict[str, np.ndarray], int]:
    """The per-galaxy values (from ``--from-samples``, or measured on the validation galaxies) and the
    number of galaxies."""
    if args.from_samples:
        s = dict(np.load(args.from_samples))
        n_galaxies = int(((s["size_px"] == s["size_px"][0]) & (s["snr"] == s["snr"][0])).sum())
        print(f"{clf!r}\nre-binning {len(s['correct'])} samples from {args.from_samples}")
        return s, n_galaxies
    images, labels = validation_sets(data=args.data, pack=args.pack, sets=("labelled",))["labelled"]
    galaxies = labels != STAR
    images, labels = images[galaxies], labels[galaxies]
    print(f"{clf!r}\n{len(labels)} validation galaxies in sky windows {args.context:g}x their extent, "
          f"PSF FWHM {args.psf:g} px")
    s = samples(clf, images, labels, args.sizes, args.snr, psf_fwhm_px=args.psf, context=args.context)
    return s, len(labels)


def snr_rule(clf: Classifier, grid: AccuracyGrid) -> float | None:
    """Print the accuracy by peak S/N of objects of at least the checkpoint's ``min_extent_px``, and
    return the peak S/N from which they keep it."""
    if clf.reliability is None:
        raise SystemExit("The checkpoint has no min_extent_px: run bench/bench_resolution.py "
                         "--update-checkpoint first.")
    min_extent = clf.reliability.min_extent_px
    edges, acc, n = grid.accuracy_by_snr(min_extent)
    print(f"objects >= {min_extent:g} px, by peak S/N: " +
          ", ".join(f">={e:g}: {a:.3f} ({c})" for e, a, c in zip(edges, acc, n, strict=True)))
    min_snr = smallest_reliable_snr(grid, min_extent_px=min_extent)
    print(f"morphology reliable from peak S/N {min_snr} (objects >= {min_extent:g} px within "
          f"{SNR_TOLERANCE:g} of their best S/N bin)")
    return min_snr


def store_grid(clf: Classifier, grid: AccuracyGrid, min_snr: float | None, record: dict) -> None:
    """Write the grid, ``min_peak_snr`` and the record into the classifier's checkpoint."""
    ckpt = checkpoint.read(clf.path)
    checkpoint.write(replace(ckpt, accuracy_grid=grid, min_peak_snr=min_snr,
                             metrics={**ckpt.metrics, "accuracy_grid": record}), clf.path)
    print(f"checkpoint updated: accuracy_grid stored in {clf.path}")


def main(argv: list[str] | None = None) -> AccuracyGrid:
    """Measure (or re-bin) the samples, print the grid and the S/N rule, store them when asked."""
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    clf = Classifier.load(args.weights)
    s, n_galaxies = load_or_measure_samples(clf, args)
    if args.samples:
        np.savez_compressed(args.samples, **s)
    grid = AccuracyGrid.from_samples(s["extent_px"], s["peak_snr"], s["correct"],
                                     extent_edges_px=EXTENT_EDGES_PX, snr_edges=SNR_EDGES)
    print_grid(grid)
    min_snr = snr_rule(clf, grid)
    record = {"grid": grid.as_dict(), "min_peak_snr": min_snr, "n_galaxies": n_galaxies,
              "sizes_px": args.sizes, "snr": args.snr, "psf_fwhm_px": args.psf, "context": args.context}
    if args.update_checkpoint:
        store_grid(clf, grid, min_snr, record)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))
    return grid


if __name__ == "__main__":
    main()
