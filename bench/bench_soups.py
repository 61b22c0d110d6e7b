"""Compare classifier checkpoints and weight averages ("soups") quickly, on the framed validation split.

    python bench/bench_soups.py --data ../shared/data --sizes 96 112 \\
        --candidates weights/classifier.pt cache/s10/px112.pt weights/classifier.pt+cache/s10/px112.pt

A candidate is one checkpoint or several joined by ``+``, whose weights are
averaged (:func:`galaxy_core.average_weights.average_state_dicts`).  ResNet18
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

from galaxy_core import calibration  # noqa: E402
from galaxy_core.average_weights import average_state_dicts  # noqa: E402
from galaxy_core.classifier import float_state_dict  # noqa: E402
from galaxy_core.framing import FramingSettings  # noqa: E402
from galaxy_core.morph_transforms import eval_transforms  # noqa: E402
from galaxy_core.train_classifier import (  # noqa: E402
    SPIRAL_ANY,
    FramedDataset,
    build_model,
    classification_metrics,
    framed_sets,
    get_args_parser,
    predict_logits,
    two_way_scores,
)
from galaxy_core.types import CLASS_NAMES  # noqa: E402

STAR = CLASS_NAMES.index("Star/Artifact")


def load_candidate(spec: str) -> tuple[torch.nn.Module, dict]:
    """The network of ``spec`` ("A.pt" or "A.pt+B.pt+..."), and the first checkpoint's metadata."""
    ckpts = [torch.load(p, map_location="cpu", weights_only=True) for p in spec.split("+")]
    state = average_state_dicts([c["state_dict"] for c in ckpts])
    model = build_model(len(ckpts[0]["class_names"]))
    model.load_state_dict(float_state_dict(state))
    return model.eval(), ckpts[0]


def score(model, meta: dict, size: int, sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Figures of one network at one input size over the validation sets."""
    tf = eval_transforms(size, mean=meta["mean"], std=meta["std"])

    def logits_of(name: str) -> tuple[np.ndarray, np.ndarray]:
        images, y = sets[name]
        return predict_logits(model, DataLoader(FramedDataset(images, y, tf), batch_size=128))

    with torch.inference_mode():
        logits, labels = logits_of("labelled")
        t = calibration.fit_temperature(logits, labels)
        probs = calibration.softmax(logits, t)
        m = classification_metrics(probs, labels)
        out = {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"],
               "star_recall": m["recall"]["Star/Artifact"], "barred_recall": m["recall"]["Spiral_Barred"],
               "ece": calibration.expected_calibration_error(probs, labels), "temperature": t}
        if "gz2" in sets:
            g_logits, g_y = logits_of("gz2")
            out["gz2_val"] = two_way_scores(calibration.softmax(g_logits), g_y == SPIRAL_ANY)["accuracy"]
        if "grey" in sets:
            grey_logits, _ = logits_of("grey")
            out["grey_called_star"] = float((grey_logits.argmax(axis=1) == STAR).mean())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="the shared data folder (framed through the cache)")
    src.add_argument("--pack", help="a classifier pack (train_classifier --write-pack)")
    p.add_argument("--candidates", nargs="+", required=True, help="checkpoints, or several joined by '+'")
    p.add_argument("--sizes", nargs="+", type=int, default=[96], help="network input sides to score, px")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    flags = ["--size", "64", "--cache-size", "128", "--not-star-galaxies", "--gz2-two-way"]
    targs = get_args_parser().parse_args(
        (["--data", args.data] if args.data else ["--pack", args.pack]) + flags)
    items, images = framed_sets(targs, FramingSettings(), log=lambda *_: None)
    val = (items["split"] == "val").to_numpy()
    sets = {}
    for name in ("labelled", "gz2", "grey"):
        idx = np.flatnonzero(val & (items["set"] == name).to_numpy())
        sets[name] = (np.asarray(images[idx]), items["y"].to_numpy()[idx].astype(int))
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
                  f"{r['gz2_val']:.3f} | {r['grey_called_star']:.3f} |", flush=True)
    print(f"\n{time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
