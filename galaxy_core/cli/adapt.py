"""``adapt``: a label table in, adapted classifier weights out, with cross-validated figures.

    python -m galaxy_core adapt labels.csv --out my_field.pt [--base weights/classifier.pt]

Rows naming a cutout file (``path``) are framed as ``classify`` frames them; rows
naming a detection (``field`` + ``id``, and ``x``, ``y`` where known) are found
again by detecting the field as ``detect`` does (the same options), and framed
as the run classified them.  A field is a path (absolute, or relative to the
label table's folder), ``demo:xdf``, or the name of a file given with ``--field``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galaxy_core.cli.options import (
    add_render_args,
    check_input_file,
    check_output_path,
    check_render_options,
    render_settings_of,
    result_stream,
)
from galaxy_core.cli.progress import ProgressLine
from galaxy_core.detection.base import UPSAMPLE_FACTORS, as_factor
from galaxy_core.errors import GalaxyCoreError


def add_parser(sub) -> None:
    p = sub.add_parser("adapt", help="fine-tune the classifier on your labels; prints cross-validated gains")
    p.add_argument("labels", type=Path, help="label table (.csv or .ecsv): path or field + id, and label")
    p.add_argument("--out", type=Path, required=True, help="where to write the adapted weights (.pt)")
    p.add_argument("--base", type=Path, default=None,
                   help="weights to adapt (default: the shipped weights/classifier.pt); never written")
    p.add_argument("--field", type=Path, action="append", default=[],
                   help="a field file the table names (by its path, file name or name without suffix)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and augmentations")
    g = p.add_argument_group("finding labelled detections again (as `detect` found them)")
    g.add_argument("--method", choices=("auto", "yolo", "sep"), default="auto")
    g.add_argument("--min-score", type=float, default=None)
    g.add_argument("--upsample", type=as_factor, choices=UPSAMPLE_FACTORS, default=1)
    add_render_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_core.catalog.labels import read_labels
    from galaxy_core.morphology.adapt import AdaptSettings, adapt
    from galaxy_core.morphology.classifier import Classifier

    check_arguments(args)
    labels = read_labels(args.labels)
    classifier = Classifier.load(args.base, backend="torch")
    crops = labelled_crops(args, labels, classifier)
    settings = AdaptSettings(folds=args.folds, threads=args.threads, seed=args.seed)
    line = ProgressLine()
    try:
        result = adapt(crops, base=args.base, settings=settings, progress=line)
    finally:
        line.close()
    result.save(args.out)
    result_stream(args).write(result.summary() + "\n")
    print(f"adapted weights written to {args.out}", file=sys.stderr)
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """Every path and option checked before any work."""
    check_input_file(args.labels)
    for path in [*([args.base] if args.base is not None else []), *args.field]:
        check_input_file(path)
    check_output_path(args.out, (".pt",), "weights")
    check_out(args.out, args.base)
    check_render_options(args)
    if args.folds < 2 or args.threads < 1:
        raise GalaxyCoreError("--folds must be at least 2 and --threads at least 1.")


def labelled_crops(args: argparse.Namespace, labels, classifier):
    """The table's labelled objects, framed: cutout files, then each field's detections."""
    from galaxy_core.morphology.labelled import LabelledCrops, crops_from_files

    root = args.labels.resolve().parent
    parts = [crops_from_files(labels, classifier, root=root)]
    fields = sorted(set(labels.loc[(labels["path"] == "") & (labels["label"] != "skip"), "field"]))
    parts += [field_crops(args, labels, name, classifier, root) for name in fields]
    return LabelledCrops.concat(parts)


def check_out(out: Path, base: Path | None) -> None:
    """Refuse an output that would replace the shipped or the base weights."""
    from galaxy_core import shipped

    protected = [shipped.CLASSIFIER_WEIGHTS] + ([base] if base is not None else [])
    if any(out.resolve() == p.resolve() for p in protected):
        raise GalaxyCoreError(f"--out {out} would overwrite the base weights; choose another file.")
    if out.is_dir():
        raise GalaxyCoreError(f"--out {out} is a folder; name a file.")


def field_crops(args: argparse.Namespace, labels, name: str, classifier, root: Path):
    """The labelled detections of one field, found by detecting it again."""
    from galaxy_core import pipeline
    from galaxy_core.morphology.labelled import crops_from_run

    field = resolve_field(name, args.field, root)
    settings = pipeline.RunSettings(method=args.method, classify=False, min_score=args.min_score,
                                    upsample=args.upsample)
    print(f"detecting {name} again to find its labelled objects", file=sys.stderr)
    result = pipeline.run(field, render_settings_of(args, field), settings)
    return crops_from_run(labels, result.rgb, result.detections, classifier, field=name)


def resolve_field(name: str, given: list[Path], root: Path):
    """The field a table names: a ``--field`` file, a demo, or a path (absolute or beside the table)."""
    from galaxy_core.io.demo import DEMO_FIELDS
    from galaxy_core.io.load import load_field

    for path in given:
        if name in (str(path), path.name, path.stem, path.name.split(".")[0]):
            return load_field(path)
    if name.startswith("demo:") and name.removeprefix("demo:") in DEMO_FIELDS:
        return DEMO_FIELDS[name.removeprefix("demo:")]()
    for path in (Path(name), root / name):
        if path.is_file():
            return load_field(path)
    raise GalaxyCoreError(f"The label table names the field {name!r}, which is not a file here: "
                          "give it with --field FILE.")
