"""sep baseline on the synthetic 2048x2048 demo field: time, completeness and purity.

    .venv/bin/python bench/bench_sep.py [--seeds 0 1 2] [--threshold 3]

Truth is exact (galaxy_core.io.synthetic); a detection matches an object when its
centre is within max(3 px, the object's half-light radius).  Prints one table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galaxy_core.catalog.matching import completeness_by_snr, match  # noqa: E402
from galaxy_core.detection.sep import SepDetector  # noqa: E402
from galaxy_core.io.synthetic import synthetic_field  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, default=3.0)
    args = parser.parse_args()
    detector = SepDetector(thresh_sigma=args.threshold)
    for seed in args.seeds:
        field, truth = synthetic_field(seed=seed, size=2048)
        detector(field)  # warm-up
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            found = detector(field)
            times.append(time.perf_counter() - t0)
        result = match(found, truth)
        detectable = truth.snr >= 10
        sub = match(found, truth[detectable].reset_index(drop=True))
        print(f"seed {seed}: {len(truth)} objects ({int(detectable.sum())} with S/N>=10), "
              f"{len(found)} detections, median time {np.median(times):.3f} s")
        print(f"  completeness all {result.completeness:.3f}, S/N>=10 {sub.completeness:.3f}; "
              f"purity {result.purity:.3f}")
        print(completeness_by_snr(result, truth).to_string(index=False))


if __name__ == "__main__":
    main()
