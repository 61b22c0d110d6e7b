"""``detect``: a field's catalogue (CSV on stdout, or a file by its suffix).

Options, the field's files and the output path are checked before anything is
read; a progress line (per tile, per batch of classified crops, with the time
left) is shown on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galaxy_core import shipped
from galaxy_core.cli.options import (
    add_field_args,
    add_render_args,
    check_input_file,
    check_output_path,
    check_render_options,
    field_paths,
    load_cli_field,
    print_notes,
    render_settings_of,
    result_stream,
    write_output,
)
from galaxy_core.cli.progress import ProgressLine
from galaxy_core.detection.base import UPSAMPLE_FACTORS, as_factor
from galaxy_core.errors import GalaxyCoreError


def add_parser(sub) -> None:
    p = sub.add_parser("detect", help="detect (and classify) objects; catalogue on stdout or --out")
    add_field_args(p)
    add_render_args(p)
    add_run_args(p)
    p.add_argument("--out", type=Path, help="write the catalogue to this file instead of stdout, in "
                                            "the format its suffix names (.csv, .fits, .ecsv, .reg "
                                            "for DS9, ...); suffix and folder are checked first")
    p.add_argument("--weights-classifier", type=Path, default=None, metavar="FILE",
                   help="classify with these weights (e.g. a file made by `adapt`; "
                        "default: the shipped ones)")
    p.set_defaults(run=run)


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The detector's and the classifier's options (detect and batch share them)."""
    p.add_argument("--method", choices=("auto", "yolo", "sep"), default="auto",
                   help="yolo when its weights ship (auto), or the sep baseline")
    p.add_argument("--threshold", type=float, default=3.0, help="sep threshold in sigma")
    p.add_argument("--min-area", type=int, default=5, help="sep minimum area in pixels")
    p.add_argument("--min-score", type=float, default=None,
                   help="drop detections below this score (default: the method's own, "
                        "0.25 for yolo, 0.05 for sep)")
    p.add_argument("--upsample", type=as_factor, choices=UPSAMPLE_FACTORS, default=1,
                   help="YOLO's small-object pass: tiles see the field upsampled this many "
                        "times, for galaxies only 2-4 px across (1.5: 2-3x slower; "
                        "2: about 4x slower, finds the last few, more boxes on noise)")
    p.add_argument("--classify", action=argparse.BooleanOptionalAction, default=None,
                   help="add the six class probabilities (default: when the classifier ships)")
    p.add_argument("--tta", action="store_true",
                   help="classify with test-time augmentation (8x slower)")
    p.add_argument("--detect-tta", action="store_true",
                   help="YOLO with flip test-time augmentation: each tile also seen flipped "
                        "three ways and the views fused (about 4x the detection time)")


def run_settings_of(args: argparse.Namespace):
    """The run's settings from the options, refused when they ask for weights that do not ship."""
    from galaxy_core.pipeline import RunSettings

    settings = RunSettings(
        method=args.method, classify=True if args.classify is None else args.classify,
        tta=args.tta, min_score=args.min_score, detect_tta=args.detect_tta, upsample=args.upsample,
        sep_thresh_sigma=args.threshold, sep_minarea=args.min_area,
    )
    if args.classify and not shipped.classifier_available() and getattr(args, "weights_classifier", None) is None:
        raise GalaxyCoreError("--classify needs the classifier's weights (weights/classifier.pt).")
    if settings.method == "yolo" and "yolo" not in shipped.available_methods():
        raise GalaxyCoreError("--method yolo needs the detector's weights (weights/detector.pt).")
    return settings


def check_options(args: argparse.Namespace):
    """Everything the command line says, checked before any work: the run's settings."""
    from galaxy_core.catalog.export import FORMATS

    settings = run_settings_of(args)
    check_render_options(args)
    if args.out is not None:
        check_output_path(args.out, tuple(FORMATS), "catalogue")
    if args.weights_classifier is not None:
        check_input_file(args.weights_classifier)
    field_paths(args)
    return settings


def classifier_of(args: argparse.Namespace, settings):
    """The classifier named by --weights-classifier (None: the shipped one, loaded by the run)."""
    if args.weights_classifier is None or not settings.classify:
        return None
    from galaxy_core.morphology.classifier import Classifier

    return Classifier.load(args.weights_classifier)


def run(args: argparse.Namespace) -> int:
    from galaxy_core import pipeline
    from galaxy_core.catalog.export import catalog_bytes, format_of
    from galaxy_core.catalog.provenance import result_provenance
    from galaxy_core.catalog.table import to_frame

    settings = check_options(args)
    classifier = classifier_of(args, settings)
    notes: list[str] = []
    with ProgressLine(enabled=False if args.quiet else None) as progress:
        progress(0.0, f"Reading {args.field}")
        field = load_cli_field(args, notes=notes)
        print_notes(notes, progress)
        result = pipeline.run(field, render_settings_of(args, field), settings, progress=progress,
                              classifier=classifier)
        print_notes(list(result.notes), progress)
    df = to_frame(result.detections)
    if args.out is None:
        result_stream(args).write(catalog_bytes(df, "csv").decode())
        return 0
    data = catalog_bytes(df, format_of(args.out), detections=result.detections, wcs=field.wcs,
                         meta=result_provenance(field, result,
                                                 classifier_weights=args.weights_classifier))
    write_output(args.out, data)
    if not args.quiet:
        print(f"{len(df)} detections written to {args.out}", file=sys.stderr)
    return 0
