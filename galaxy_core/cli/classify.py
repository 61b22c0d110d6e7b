"""``classify``: galaxy cutouts in, a CSV of each one's class and six probabilities out."""

from __future__ import annotations

import argparse
from pathlib import Path

from galaxy_core.cli.options import check_input_file, result_stream


def add_parser(sub) -> None:
    p = sub.add_parser("classify", help="classify galaxy cutouts; CSV of the six probabilities")
    p.add_argument("images", nargs="+", type=Path, help="cutout pictures, one galaxy each")
    p.add_argument("--tta", dest="tta", action="store_true", default=None,
                   help="average over the 8 rotations and flips (default: the checkpoint's choice, "
                        "made by bench/bench_classifier.py)")
    p.add_argument("--no-tta", dest="tta", action="store_false", help="without test-time augmentation")
    p.add_argument("--weights", type=Path, default=None,
                   help="classifier weights (default: the shipped ones; e.g. a file made by `adapt`)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for path in args.images:  # every file checked before the model loads
        check_input_file(path)
    from galaxy_core.morphology.classifier import classify_paths

    df = classify_paths([str(p) for p in args.images], tta=args.tta, weights=args.weights)
    result_stream(args).write(df.to_csv(index=False, float_format="%.6f"))
    return 0
