"""What loading the classifier costs a fresh process: from its shipped export, or from the weights.

    python bench/bench_classifier_load.py [--runs 5]

Each run starts two new Python processes in turn (so the machine's drift hits both
alike): one loads the shipped classifier as the pipeline does (from the export beside
``weights/classifier.pt``, :mod:`galaxy_core.morphology.exported`), the other loads the
same ``.pt`` copied to a folder without its export (read by torch, exported in memory).
Each process reports the seconds from its first import to a loaded classifier and its
peak memory; the script prints the medians and the ratio run by run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import time, resource, sys
t0 = time.perf_counter()
from galaxy_core.morphology.classifier import Classifier
clf = Classifier.load({weights!r})
seconds = time.perf_counter() - t0
assert (clf.model is None) == {exported!r}, clf
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch" in sys.modules)
"""


def load_once(weights: Path, exported: bool) -> tuple[float, float, bool]:
    """(seconds, peak MB, torch imported) of a new process loading ``weights``."""
    code = PROBE.format(weights=str(weights), exported=exported)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    seconds, mb, torch = done.stdout.split()
    return float(seconds), float(mb), torch == "True"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    from galaxy_core import shipped

    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / shipped.CLASSIFIER_WEIGHTS.name
        shutil.copyfile(shipped.CLASSIFIER_WEIGHTS, bare)
        load_once(shipped.CLASSIFIER_WEIGHTS, True)  # warm the file cache for both
        fast, slow = [], []
        for _ in range(args.runs):
            fast.append(load_once(shipped.CLASSIFIER_WEIGHTS, True))
            slow.append(load_once(bare, False))
    for name, runs in (("from the export", fast), ("from the weights", slow)):
        print(f"{name:17s} median {statistics.median(r[0] for r in runs):5.2f} s "
              f"(min {min(r[0] for r in runs):.2f}, max {max(r[0] for r in runs):.2f}), "
              f"peak {statistics.median(r[1] for r in runs):4.0f} MB, torch imported: {runs[0][2]}")
    ratios = [a[0] / b[0] for a, b in zip(fast, slow, strict=True)]
    print(f"ratio export/weights, run by run: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}), {args.runs} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
