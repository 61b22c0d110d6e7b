"""Make ``weights/classifier_replay.npz``: what adaptation replays of the original data.

    python -m training.classifier.replay --data ../shared/data --out weights/classifier_replay.npz \\
        --per-class 300 --threads 2

The shipped network's 512-d penultimate features (fp16) of a class-balanced
sample of its training split (up to ``--per-class`` items per class, drawn with
``--seed``), and of its whole validation split (each item plain, and averaged
over the 8 dihedral views), with their labels: derived numbers, no images
(:mod:`galaxy_core.morphology.replay`).  Items are framed as the classifier
frames a cutout (:meth:`Classifier.frame` on the training cache's framed
images, as ``bench/bench_classifier.py`` and the benches do).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from galaxy_core import shipped
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.adapt import crop_features
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.replay import ReplaySet, body_sha256, save_replay
from galaxy_core.types import CLASS_NAMES


def balanced_sample(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of up to ``per_class`` items of each class, drawn without replacement."""
    rng = np.random.default_rng(seed)
    parts = [rng.choice(np.flatnonzero(labels == c), min(per_class, int((labels == c).sum())), replace=False)
             for c in range(len(CLASS_NAMES)) if (labels == c).any()]
    return np.sort(np.concatenate(parts))


def features_of(ckpt, images: np.ndarray, *, tta: bool = True, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(plain, dihedral mean) features (N, 512) of cached framed images, framed again as a cutout
    (the mean is the plain features when ``tta`` is False)."""
    clf = Classifier.from_checkpoint(ckpt, backend="torch")
    framed = np.stack([clf.frame(np.asarray(im)) for im in images])
    t0 = time.time()
    feats = crop_features(ckpt, framed, augment_views=0, dihedral=tta,
                          progress=lambda f, _: log(f"  {f:.0%} ({time.time() - t0:.0f} s)") if f == 1 else None)
    return feats.plain, feats.tta


def main(argv: list[str] | None = None) -> Path:
    from training.classifier.train import framed_sets, get_args_parser

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the shared data folder")
    p.add_argument("--weights", default=str(shipped.CLASSIFIER_WEIGHTS), help="the network (default: shipped)")
    p.add_argument("--out", default="weights/classifier_replay.npz")
    p.add_argument("--per-class", type=int, default=300, help="training items per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default="cache")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    targs = get_args_parser().parse_args(["--data", args.data, "--size", "64", "--cache-size", "128",
                                          "--cache-dir", args.cache_dir])
    from galaxy_core.morphology.framing import FramingSettings

    items, images = framed_sets(targs, FramingSettings(), log=print)
    split, y = items["split"].to_numpy(), items["y"].to_numpy().astype(int)
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    replay_rows = train[balanced_sample(y[train], args.per_class, args.seed)]
    ckpt = checkpoint.read(args.weights)
    print(f"replay: {len(replay_rows)} training items; validation: {len(val)} items")
    replay_plain, _ = features_of(ckpt, images[replay_rows], tta=False)
    val_plain, val_tta = features_of(ckpt, images[val])
    meta = {"weights": Path(args.weights).name, "per_class": args.per_class, "seed": args.seed,
            "replay_counts": np.bincount(y[replay_rows], minlength=len(CLASS_NAMES)).tolist(),
            "val_counts": np.bincount(y[val], minlength=len(CLASS_NAMES)).tolist(),
            "command": "python -m training.classifier.replay " + " ".join(argv or []),
            "torch": torch.__version__}
    out = save_replay(args.out, ReplaySet(replay_plain, y[replay_rows], val_plain, y[val], val_tta,
                                          body_sha256(ckpt.state_dict), meta))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return out


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
