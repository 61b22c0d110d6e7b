"""Star or galaxy: the detector's label, the classifier's class, and the class the pipeline gives.

    OMP_NUM_THREADS=2 python bench/bench_star_labels.py [--fields 6]

On held-out synthetic fields (scene_synth: stars are the PSF with a Moffat halo
and, when bright, diffraction spikes; galaxies are real cutouts never trained
on), each YOLO detection at its operating point is matched to the truth (IoU >=
0.5) and classified as the pipeline classifies it.  Prints, for matched
detections: YOLO's galaxy/star label against the truth; what the classifier
alone calls the true stars; and how often the pipeline's class (Star/Artifact
for the detector's stars, else the classifier's; ``pipeline.class_label``) says
star for true stars and for true galaxies.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galaxy_core import pipeline  # noqa: E402
from galaxy_core.catalog.matching import match_boxes  # noqa: E402
from galaxy_core.display import RenderSettings, render  # noqa: E402
from galaxy_core.types import CLASS_NAMES  # noqa: E402
from training.detector.scenes import build_library, heldout_field  # noqa: E402

BOXES = ["x_min", "y_min", "x_max", "y_max"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fields", type=int, default=6, help="held-out synthetic fields (seeds 100...)")
    p.add_argument("--size", type=int, default=1024, help="field side (px)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    lib = build_library()
    detector, classifier = pipeline.load_detector(), pipeline.load_classifier()
    yolo_vs_truth = collections.Counter()
    classifier_on_stars = collections.Counter()
    said_star = {"star": [0, 0], "galaxy": [0, 0]}  # truth -> [pipeline says star, total]
    classifier_said_star = {"star": 0, "galaxy": 0}
    for seed in range(100, 100 + args.fields):
        field, truth = heldout_field(seed, lib, size=args.size)
        rgb = render(field, RenderSettings())
        found = detector(rgb)
        boxes = np.array([[d.x_min, d.y_min, d.x_max, d.y_max] for d in found]).reshape(-1, 4)
        match = match_boxes(boxes, np.array([d.score for d in found]), truth[BOXES].to_numpy(float))
        classified = pipeline.classify(rgb, found, classifier=classifier)
        for d, j in zip(classified, match, strict=True):
            if j < 0:
                continue
            true = str(truth["label"].iloc[j])
            yolo_vs_truth[(d.detector_label, true)] += 1
            top = CLASS_NAMES[int(np.argmax(d.probs))]
            if true == "star":
                classifier_on_stars[top] += 1
            said_star[true][0] += d.label == pipeline.STAR_CLASS
            said_star[true][1] += 1
            classifier_said_star[true] += top == pipeline.STAR_CLASS
    print(f"{args.fields} held-out synthetic fields of {args.size} px, YOLO at conf "
          f"{detector.conf}, matched detections (IoU >= 0.5)")
    print("YOLO label vs truth:")
    for (yolo, true), n in sorted(yolo_vs_truth.items()):
        print(f"  YOLO {yolo:6s} truth {true:6s} {n:5d}")
    n_star = sum(n for (y, _), n in yolo_vs_truth.items() if y == "star")
    right = yolo_vs_truth[("star", "star")]
    n_true = sum(n for (_, t), n in yolo_vs_truth.items() if t == "star")
    print(f"  YOLO star label: precision {right}/{n_star} = {right / max(n_star, 1):.3f}, "
          f"recall {right}/{n_true} = {right / max(n_true, 1):.3f}")
    print("the classifier alone on true stars: " + ", ".join(
        f"{c} {n}" for c, n in classifier_on_stars.most_common()))
    for true in ("star", "galaxy"):
        hit, total = said_star[true]
        print(f"true {true:6s} ({total:4d}) called Star/Artifact: classifier alone "
              f"{classifier_said_star[true] / max(total, 1):.3f}, pipeline {hit / max(total, 1):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
