"""Command-line interface: ``python -m galaxy_core {detect,render,classify} ...``.

A FIELD is a FITS file, a picture (PNG/JPEG/TIFF), or a bundled demo field
named ``demo:xdf`` or ``demo:synthetic``.  Giving three FITS files makes them
the R, G and B bands of one field.  Errors are printed as one line on stderr
(exit status 2), never as a traceback.

    python -m galaxy_core detect demo:synthetic --method sep --out catalog.ecsv
    python -m galaxy_core render field.fits --stretch asinh --a 0.05 -o field.png
    python -m galaxy_core classify galaxy1.jpg galaxy2.jpg [--tta | --no-tta]
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.render import INTERVALS, RGB_METHODS, STRETCHES, RenderSettings, default_settings
from galaxy_core.tiling import UPSAMPLE_FACTORS, as_factor
from galaxy_core.types import Field

log = logging.getLogger("galaxy_core")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 1 unexpected failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return args.func(args)
    except GalaxyCoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, BrokenPipeError):
        return 130
    except Exception as err:  # never a traceback for the user; the log has the details
        log.debug("unexpected failure", exc_info=True)
        print(f"error: unexpected failure ({type(err).__name__}: {err})", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m galaxy_core", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    detect = sub.add_parser("detect", help="detect (and classify) objects; catalogue on stdout or --out")
    _add_field_args(detect)
    _add_render_args(detect)
    detect.add_argument("--method", choices=("auto", "yolo", "sep"), default="auto",
                        help="yolo when its weights ship (auto), or the sep baseline")
    detect.add_argument("--threshold", type=float, default=3.0, help="sep threshold in sigma")
    detect.add_argument("--min-area", type=int, default=5, help="sep minimum area in pixels")
    detect.add_argument("--min-score", type=float, default=None,
                        help="drop detections below this score (default: the method's own, "
                             "0.25 for yolo, 0.05 for sep)")
    detect.add_argument("--upsample", type=as_factor, choices=UPSAMPLE_FACTORS, default=1,
                        help="YOLO's small-object pass: tiles see the field upsampled this many "
                             "times, for galaxies only 2-4 px across (1.5: 2-3x slower; "
                             "2: about 4x slower, finds the last few, more boxes on noise)")
    detect.add_argument("--classify", action=argparse.BooleanOptionalAction, default=None,
                        help="add the six class probabilities (default: when the classifier ships)")
    detect.add_argument("--tta", action="store_true",
                        help="classify with test-time augmentation (8x slower)")
    detect.add_argument("--detect-tta", action="store_true",
                        help="YOLO with flip test-time augmentation: each tile also seen flipped "
                             "three ways and the views fused (about 4x the detection time)")
    detect.add_argument("--out", type=Path, help="write .csv, .fits, .ecsv or .reg (DS9) instead of stdout")
    detect.set_defaults(func=_cmd_detect)

    rend = sub.add_parser("render", help="render a field to a PNG")
    _add_field_args(rend)
    _add_render_args(rend)
    rend.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    rend.add_argument("--origin", choices=("lower", "upper"), default=None,
                      help="row 0 at the bottom (FITS default) or top (pictures)")
    rend.set_defaults(func=_cmd_render)

    cls = sub.add_parser("classify", help="classify galaxy cutouts; CSV of the six probabilities")
    cls.add_argument("images", nargs="+", type=Path, help="cutout pictures, one galaxy each")
    cls.add_argument("--tta", dest="tta", action="store_true", default=None,
                     help="average over the 8 rotations and flips (default: the checkpoint's choice, "
                          "made by bench/bench_classifier.py)")
    cls.add_argument("--no-tta", dest="tta", action="store_false", help="without test-time augmentation")
    cls.set_defaults(func=_cmd_classify)

    exp = sub.add_parser("export-onnx", help="export the YOLO detector's .pt to ONNX (then used by the detector; about 10%% faster on CPU)")
    exp.add_argument("weights", nargs="?", type=Path, help="the .pt (default weights/detector.pt)")
    exp.add_argument("-o", "--output", type=Path, help="ONNX file (default: beside the .pt)")
    exp.set_defaults(func=_cmd_export_onnx)
    return parser


def _add_field_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("field", help="FITS, picture, or demo:xdf / demo:synthetic")
    p.add_argument("bands", nargs="*", help="G and B band FITS when FIELD is the R band")
    p.add_argument("--hdu", help="HDU index or name (default: first image HDU)")


def _add_render_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stretch (defaults suit HST FITS; pictures are shown as they are)")
    g.add_argument("--interval", choices=INTERVALS)
    g.add_argument("--percent", type=float, help="percentile interval: central percent kept")
    g.add_argument("--lower", type=float, help="asym_percentile: lower percentile")
    g.add_argument("--upper", type=float, help="asym_percentile: upper percentile")
    g.add_argument("--vmin", type=float, help="manual interval: black level (pixel units)")
    g.add_argument("--vmax", type=float, help="manual interval: white level (pixel units)")
    g.add_argument("--stretch", choices=STRETCHES)
    g.add_argument("--a", type=float, help="the stretch's parameter (asinh/sinh/log a, power exponent)")
    g.add_argument("--colormap", help="matplotlib colormap for one band")
    g.add_argument("--rgb-method", choices=RGB_METHODS, help="three bands: per-band or Lupton")
    g.add_argument("--q", type=float, help="Lupton Q")
    g.add_argument("--lupton-stretch", type=float, help="Lupton stretch (pixel units)")
    g.add_argument("--minimum", type=float, help="Lupton minimum (pixel units)")


def load_cli_field(args: argparse.Namespace) -> Field:
    """The field named on the command line (a demo, one file, or three bands)."""
    from galaxy_core.demo import DEMO_FIELDS

    hdu = int(args.hdu) if args.hdu is not None and args.hdu.isdigit() else args.hdu
    if args.field.startswith("demo:"):
        name = args.field.removeprefix("demo:")
        if name not in DEMO_FIELDS:
            raise GalaxyCoreError(f"Unknown demo field {name!r}; choose one of {', '.join(DEMO_FIELDS)}.")
        return DEMO_FIELDS[name]()
    from galaxy_core.load import load_bands, load_field

    if args.bands and len(args.bands) != 2:
        raise GalaxyCoreError("Give one field, or three FITS files (R, G, B bands).")
    paths = [Path(args.field), *map(Path, args.bands)]
    for path in paths:
        if not path.is_file():
            raise GalaxyCoreError(f"No such file: {path}")
    if args.bands:
        return load_bands(paths, hdu=hdu)
    return load_field(paths[0], hdu=hdu)


def render_settings_of(args: argparse.Namespace, field: Field) -> RenderSettings:
    """The field's default stretch with the options given on the command line applied."""
    options = {
        "interval": args.interval, "percent": args.percent, "lower_percent": args.lower,
        "upper_percent": args.upper, "vmin": args.vmin, "vmax": args.vmax, "stretch": args.stretch,
        "a": args.a, "colormap": args.colormap, "rgb_method": args.rgb_method,
        "lupton_q": args.q, "lupton_stretch": args.lupton_stretch, "lupton_minimum": args.minimum,
    }
    given = {k: v for k, v in options.items() if v is not None}
    if args.vmin is not None and args.vmax is not None and args.interval is None:
        given["interval"] = "manual"
    return default_settings(field).with_(**given)


def _cmd_detect(args: argparse.Namespace) -> int:
    from galaxy_core import pipeline
    from galaxy_core.catalog import to_frame
    from galaxy_core.export import catalog_bytes, format_of
    from galaxy_core.provenance import run_provenance

    field = load_cli_field(args)
    settings = pipeline.RunSettings(
        method=args.method, classify=True if args.classify is None else args.classify,
        tta=args.tta, min_score=args.min_score, detect_tta=args.detect_tta, upsample=args.upsample,
        sep_thresh_sigma=args.threshold,
        sep_minarea=args.min_area,
    )
    if args.classify and not pipeline.classifier_available():
        raise GalaxyCoreError("--classify needs the classifier's weights (weights/classifier.pt).")
    if settings.method == "yolo" and "yolo" not in pipeline.available_methods():
        raise GalaxyCoreError("--method yolo needs the detector's weights (weights/detector.pt).")
    render = render_settings_of(args, field)
    detections = pipeline.run(field, render, settings)
    df = to_frame(detections)
    if args.out is None:
        sys.stdout.write(catalog_bytes(df, "csv").decode())
        return 0
    fmt = format_of(args.out)
    meta = run_provenance(field, render, settings)
    data = catalog_bytes(df, fmt, detections=detections, wcs=field.wcs, meta=meta)
    _write(args.out, data)
    print(f"{len(df)} detections written to {args.out}", file=sys.stderr)
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from galaxy_core.annotate import png_bytes
    from galaxy_core.render import render

    field = load_cli_field(args)
    rgb = render(field, render_settings_of(args, field))
    origin = args.origin or ("lower" if field.kind == "fits" else "upper")
    _write(args.output, png_bytes(rgb, origin_lower=origin == "lower"))
    print(f"{field.width}x{field.height} field rendered to {args.output}", file=sys.stderr)
    return 0


def _cmd_classify(args: argparse.Namespace) -> int:
    from galaxy_core.classifier import classify_paths

    df = classify_paths([str(p) for p in args.images], tta=args.tta)
    sys.stdout.write(df.to_csv(index=False, float_format="%.6f"))
    return 0


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from galaxy_core.yolo_detector import DEFAULT_WEIGHTS, export_onnx

    out = export_onnx(args.weights or DEFAULT_WEIGHTS, args.output)
    print(f"ONNX export written to {out}", file=sys.stderr)
    return 0


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as err:
        raise GalaxyCoreError(f"Cannot write {path}: {err.strerror or err}") from err
