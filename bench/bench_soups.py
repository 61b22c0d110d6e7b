"""Compare classifier checkpoints and weight averages ("soups") quickly, on the framed validation split.

    python bench/bench_soups.py --data ../shared/data --sizes 96 112 \\
        --candidates weights/classifier.pt cache/s10/px112.pt weights/classifier.pt+cache/s10/px112.pt

A candidate is one checkpoint or several joined by ``+``, whose weights are
averaged (:func:`training.classifier.soups.average_state_dicts`).  ResNet18
ends in a global pool, so any candidate can run at any input size: each is
scored at every ``--sizes`` value (argmax, no TTA), with the temperature fitted
on the same items.  Images come from the 128 px framed cache (or ``--pack``),
as in training, so this is the fast screen that picks what
``bench/bench_classifier.py`` then measures from the original files.

Printed per candidate and size: accuracy, balanced accuracy, Star/Artifact and
Spiral_Barred recall, ECE at the fitted T, the gz2_spiral two-way accuracy on
its validation split (T = 1, as the training log reports it) and the share of
the grey ground-based validation galaxies called Star/Artifact.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galaxy_core.morphology import (
    calibration,  # noqa: E402
    checkpoint,  # noqa: E402
)
from galaxy_core.morphology.classifier import float_state_dict  # noqa: E402
from galaxy_core.morphology.transforms import eval_transforms  # noqa: E402
from training.classifier.soups import average_state_dicts  # noqa: E402
from training.classifier.train import (  # noqa: E402
    FramedDataset,
    add_validation_source,
    build_model,
    classification_metrics,
    partial_set_scores,
    predict_logits,
    validation_sets,
)


def load_candidate(spec: str) -> tuple[torch.nn.Module, dict]:
    """The network of ``spec`` ("A.pt" or "A.pt+B.pt+..."), and the first checkpoint's metadata."""
    ckpts = [checkpoint.read(p) for p in spec.split("+")]
    state = average_state_dicts([c.state_dict for c in ckpts])
    model = build_model(len(ckpts[0].class_names))
    model.load_state_dict(float_state_dict(state))
    return model.eval(), ckpts[0]


def score(model, meta: dict, size: int, sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Figures of one network at one input size over the validation sets."""
    tf = eval_transforms(size, mean=meta.mean, std=meta.std)
    loaders = {name: DataLoader(FramedDataset(images, y, tf), batch_size=128) for name, (images, y) in sets.items()}
    with torch.inference_mode():
        logits, labels = predict_logits(model, loaders.pop("labelled"))
        t = calibration.fit_temperature(logits, labels)
        probs = calibration.softmax(logits, t)
        m = classification_metrics(probs, labels)
        return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
                "star_recall": m["recall"]["Star/Artifact"], "barred_recall": m["recall"]["Spiral_Barred"],
                "ece": calibration.expected_calibration_error(probs, labels), "temperature": t,
                **partial_set_scores(model, loaders)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_source(p)
    p.add_argument("--candidates", nargs="+", required=True, help="checkpoints, or several joined by '+'")
    p.add_argument("--sizes", nargs="+", type=int, default=[96], help="network input sides to score, px")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    sets = validation_sets(data=args.data, pack=args.pack)
    print(f"validation: {', '.join(f'{k} {len(v[1])}' for k, v in sets.items())} "
          f"({time.time() - t0:.0f} s to load)")
    print("\n| candidate | px | accuracy | balanced | Star recall | Barred recall | ECE | gz2 val (T=1) "
          "| grey called Star |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for spec in args.candidates:
        model, meta = load_candidate(spec)
        for size in args.sizes:
            r = score(model, meta, size, sets)
            results.append({"candidate": spec, "size": size, **r})
            print(f"| {spec} | {size} | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} | "
                  f"{r['star_recall']:.3f} | {r['barred_recall']:.3f} | {r['ece']:.3f} | "
                  f"{r['gz2_val_two_way']:.3f} | {r['grey_galaxies_called_star']:.3f} |", flush=True)
    print(f"\n{time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
