"""What the augmentations buy: classifier accuracy on perturbed validation images.

    python bench/bench_augmentation.py --pack .gpu_classifier/classifier_pack.npz \\
        --weights weights/classifier.pt cache/ablation/aug.pt cache/ablation/noaug.pt

Each checkpoint is scored (argmax, no TTA) on the labelled validation split's
framed images as they are and under five perturbations that stand for the
app's inputs: greyscale, a rotation by a random angle (not a multiple of 90
degrees), a coarser resolution (down-sampled 2.5x and back), pixel noise
(sigma 0.04 of full scale) and all four together.  The draws are seeded, so
every checkpoint sees the same perturbed images.  Images come from a pack
(:mod:`training.classifier.pack`) or, with ``--data``, from the framed cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galaxy_core.morphology.classifier import Classifier  # noqa: E402
from galaxy_core.morphology.transforms import ResolutionLoss, SkyRotation  # noqa: E402
from training.classifier.train import (  # noqa: E402
    add_validation_source,
    classification_metrics,
    validation_sets,
)


def _grey(img: torch.Tensor) -> torch.Tensor:
    return F.rgb_to_grayscale(img, num_output_channels=3)


def _noisy(img: torch.Tensor) -> torch.Tensor:
    x = img.float() / 255.0 + 0.04 * torch.randn(img.shape)
    return (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)


#: Perturbations of a uint8 (3, H, W) framed image, applied before the eval transforms.
VIEWS = {
    "as is": lambda img: img,
    "greyscale": _grey,
    "rotated": SkyRotation(180.0),
    "low resolution": ResolutionLoss(2.5, 2.5),
    "noisy": _noisy,
    "all four": lambda img: _noisy(ResolutionLoss(2.5, 2.5)(SkyRotation(180.0)(_grey(img)))),
}


def view_accuracy(ckpt_path: str, images: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict:
    """{view: (accuracy, balanced accuracy)} of one checkpoint over uint8 (N, H, W, 3) framed images."""
    clf = Classifier.load(ckpt_path)
    resize = v2.Resize([clf.input_size, clf.input_size], antialias=True)
    out = {}
    for name, view in VIEWS.items():
        torch.manual_seed(seed)  # the same draws for every checkpoint
        framed = [resize(view(torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1))).permute(1, 2, 0).numpy()
                  for im in images]
        m = classification_metrics(clf.logits(framed, tta=False, framed=True), labels)
        out[name] = (m["accuracy"], m["balanced_accuracy"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_source(p)
    p.add_argument("--weights", nargs="+", required=True, help="classifier checkpoints to compare")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    images, labels = validation_sets(data=args.data, pack=args.pack, sets=("labelled",))["labelled"]
    print(f"{len(labels)} validation images, {images.shape[1]} px framed ({time.time() - t0:.0f} s to load)")
    results = {w: view_accuracy(w, images, labels, seed=args.seed) for w in args.weights}
    print("\naccuracy / balanced accuracy, argmax, no TTA\n")
    print("| view | " + " | ".join(Path(w).name for w in args.weights) + " |")
    print("|---|" + "---|" * len(args.weights))
    for view in VIEWS:
        cells = [f"{results[w][view][0]:.4f} / {results[w][view][1]:.4f}" for w in args.weights]
        print(f"| {view} | " + " | ".join(cells) + " |")
    print(f"\n{time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
