"""How small can a galaxy be before its morphology is guesswork?  Classifier accuracy versus apparent size.

    python bench/bench_resolution.py --pack .gpu_classifier/classifier_pack.npz [--weights W]

Each labelled validation galaxy (stars left out) is shown as a distant galaxy
in a field would be: its framed image (the galaxy spans about ``fill`` = 0.6 of
the 128 px side, about 77 px) is blurred by a Gaussian PSF and area-averaged
(pixel integration) down until the galaxy spans ``N`` px, for each ``--sizes``
N.  The small image then goes through :class:`~galaxy_core.morphology.classifier.Classifier`
as the app's crops do (framing measures the extent, cuts and resizes), no TTA.

Printed per N: the median extent that framing measures (the size the app
knows for each detection, :attr:`~galaxy_core.types.Detection.extent_px`),
accuracy and balanced accuracy over the five galaxy classes, the share called
Star/Artifact, and the share of each predicted class.  By default no sky noise is
added (the shrinking averages it down), so those rows are upper bounds for
faint galaxies; ``--snr`` adds Gaussian noise to the small image, per pixel
and channel, of sigma = the galaxy's peak above sky / S/N.

The smallest size from which accuracy with the ``--rule-psf`` PSF stays at
least 0.80 is printed (:func:`~galaxy_core.morphology.reliability.smallest_reliable_size`);
``--update-checkpoint`` stores it in the checkpoint as ``min_extent_px``,
where the classifier reads its rule from (:mod:`galaxy_core.morphology.checkpoint`).
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
from galaxy_core.morphology.framing import measure_extent  # noqa: E402
from galaxy_core.morphology.reliability import MIN_ACCURACY, smallest_reliable_size  # noqa: E402
from galaxy_core.types import CLASS_NAMES, STAR_CLASS  # noqa: E402
from training.classifier.distant import shrink  # noqa: E402
from training.classifier.train import (  # noqa: E402
    add_validation_source,
    classification_metrics,
    validation_sets,
)

STAR = CLASS_NAMES.index(STAR_CLASS)


def size_row(clf: Classifier, images: np.ndarray, labels: np.ndarray, n_px: float, *,
             psf_fwhm_px: float, snr: float = 0.0) -> dict:
    """Scores of ``clf`` on ``images`` shown with the galaxy ``n_px`` across (inf: as they are)."""
    nominal = clf.framing.fill * images.shape[1]
    crops = (list(images) if not np.isfinite(n_px)
             else [shrink(im, n_px / nominal, psf_fwhm_px=psf_fwhm_px, snr=snr, seed=i)
                   for i, im in enumerate(images)])
    extents = [measure_extent(c, settings=clf.framing).extent_px for c in crops]
    probs = clf.predict(crops, tta=False)
    pred = probs.argmax(axis=1)
    m = classification_metrics(np.where(np.arange(len(CLASS_NAMES)) == STAR, 0.0, probs), labels)
    return {"size_px": None if not np.isfinite(n_px) else float(n_px),
            "median_extent_px": round(float(np.median(extents)), 2),
            "accuracy": round(float((pred == labels).mean()), 4),
            "galaxy_class_accuracy": round(m["accuracy"], 4),
            "balanced_accuracy": round(m["balanced_accuracy"], 4),
            "called_star": round(float((pred == STAR).mean()), 4),
            "predicted_share": {c: round(float((pred == i).mean()), 3) for i, c in enumerate(CLASS_NAMES)}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring); ``--rule-psf`` must be one of ``--psf``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_validation_source(p)
    p.add_argument("--weights", default=None, help="classifier checkpoint (default: the shipped one)")
    p.add_argument("--sizes", nargs="+", type=float, default=[4, 5, 6, 8, 10, 12, 16, 20, 24, 28, 32, 48],
                   help="galaxy extents to show, px")
    p.add_argument("--psf", nargs="+", type=float, default=[0.0, 1.6],
                   help="Gaussian PSF FWHM in output px (0: pixel integration only)")
    p.add_argument("--snr", nargs="+", type=float, default=[0.0],
                   help="peak S/N of the small galaxies (0: no noise added; the rule uses 0)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--rule-psf", type=float, default=1.6,
                   help="PSF FWHM (px, one of --psf) whose rows set the reliability threshold")
    p.add_argument("--update-checkpoint", action="store_true",
                   help="store the threshold (min_extent_px) and its rows in the checkpoint")
    args = p.parse_args(argv)
    if args.rule_psf not in args.psf:
        p.error(f"--rule-psf {args.rule_psf:g} is not one of --psf {args.psf}")
    return args


def validation_galaxies(data: str | None, pack: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Framed images and labels of the labelled validation items, stars left out."""
    images, labels = validation_sets(data=data, pack=pack, sets=("labelled",))["labelled"]
    galaxies = labels != STAR
    return images[galaxies], labels[galaxies]


def conditions(psfs: list[float], snrs: list[float], sizes: list[float]) -> list[tuple[float, float, float]]:
    """(PSF, S/N, size) of each row: the galaxies as they are (size inf) once, under the first PSF and
    S/N, then every size from the largest down, for each PSF and S/N."""
    return [(psf, snr, n_px) for psf in psfs for snr in snrs for n_px in [np.inf, *sorted(sizes, reverse=True)]
            if np.isfinite(n_px) or (psf == psfs[0] and snr == snrs[0])]


def measure_row(clf: Classifier, images: np.ndarray, labels: np.ndarray, psf: float, snr: float,
                n_px: float) -> tuple[str, dict]:
    """One row of the table (:func:`size_row` with its PSF and S/N), printed, and its key."""
    t0 = time.perf_counter()
    row = size_row(clf, images, labels, n_px, psf_fwhm_px=psf, snr=snr)
    row["psf_fwhm_px"], row["snr"] = psf, (snr if np.isfinite(n_px) else 0.0)
    noise = f"_snr{snr:g}" if snr > 0 and np.isfinite(n_px) else ""
    key = f"psf{psf:g}{noise}_size{'full' if row['size_px'] is None else f'{n_px:g}'}"
    share = " ".join(f"{v:.2f}" for v in row["predicted_share"].values())
    print(f"{psf:5.1f} {snr:4g} {'as is' if row['size_px'] is None else f'{n_px:g}':>6s} "
          f"{row['median_extent_px']:8.1f} {row['accuracy']:6.3f} {row['galaxy_class_accuracy']:7.3f} "
          f"{row['balanced_accuracy']:6.3f} {row['called_star']:6.3f}  {share}  "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return key, row


def size_table(clf: Classifier, images: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> dict:
    """{key: row} for every PSF, S/N and size asked for, printed as a table."""
    print(f"{'PSF':>5s} {'S/N':>4s} {'size':>6s} {'measured':>8s} {'acc':>6s} {'gal acc':>7s} {'bal':>6s} "
          f"{'Star':>6s}  predicted share (" + ", ".join(CLASS_NAMES) + ")")
    rows = {}
    for psf, snr, n_px in conditions(args.psf, args.snr, args.sizes):
        key, row = measure_row(clf, images, labels, psf, snr, n_px)
        rows[key] = row
    return rows


def reliability_rule(rows: dict, rule_psf: float) -> float | None:
    """The smallest size from which accuracy stays above the floor, from the noiseless ``rule_psf`` rows."""
    rule_rows = {r["size_px"]: r["accuracy"] for r in rows.values()
                 if r["psf_fwhm_px"] == rule_psf and r["snr"] == 0 and r["size_px"] is not None}
    return smallest_reliable_size(rule_rows)


def store_threshold(clf: Classifier, threshold: float | None, results: dict) -> None:
    """Write ``min_extent_px`` and the figures into the classifier's checkpoint."""
    if threshold is None:
        raise SystemExit("No size reaches the accuracy floor; the checkpoint was not updated.")
    ckpt = checkpoint.read(clf.path)
    checkpoint.write(replace(ckpt, min_extent_px=threshold,
                             metrics={**ckpt.metrics, "resolution": results}), clf.path)
    print(f"checkpoint updated: min_extent_px = {threshold:g}")


def main(argv: list[str] | None = None) -> dict:
    """Measure the table, print the reliability threshold, store it when asked; returns the figures."""
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    clf = Classifier.load(args.weights)
    images, labels = validation_galaxies(args.data, args.pack)
    print(f"{clf!r}\n{len(labels)} validation galaxies; framed side {images.shape[1]} px, "
          f"galaxy extent about {clf.framing.fill * images.shape[1]:.0f} px")
    results = {"n": int(len(labels)), "rows": size_table(clf, images, labels, args)}
    threshold = reliability_rule(results["rows"], args.rule_psf)
    results["min_extent_px"] = threshold
    results["rule"] = {"psf_fwhm_px": args.rule_psf, "min_accuracy": MIN_ACCURACY}
    print(f"morphology reliable from {threshold} px (accuracy >= {MIN_ACCURACY} from there up, "
          f"PSF FWHM {args.rule_psf:g} px)")
    if args.update_checkpoint:
        store_threshold(clf, threshold, results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
