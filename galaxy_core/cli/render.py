"""``render``: a field as a PNG with an interval and a stretch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galaxy_core.cli.options import (
    add_field_args,
    add_render_args,
    check_output_path,
    check_render_options,
    field_paths,
    load_cli_field,
    print_notes,
    render_settings_of,
    write_output,
)
from galaxy_core.cli.progress import ProgressLine


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render a field to a PNG")
    add_field_args(p)
    add_render_args(p)
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="PNG to write (its suffix and folder are checked first)")
    p.add_argument("--origin", choices=("lower", "upper"), default=None,
                   help="row 0 at the bottom (FITS default) or top (pictures)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_core.display import render
    from galaxy_core.display.annotate import png_bytes

    check_render_options(args)
    check_output_path(args.output, (".png",), "picture")
    field_paths(args)
    notes: list[str] = []
    with ProgressLine(enabled=False if args.quiet else None) as progress:
        progress(0.0, f"Reading {args.field}")
        field = load_cli_field(args, notes=notes)
        print_notes(notes, progress)
        progress(0.5, "Rendering")
        rgb = render(field, render_settings_of(args, field))
        progress(0.9, f"Writing {args.output}")
        origin = args.origin or ("lower" if field.kind == "fits" else "upper")
        write_output(args.output, png_bytes(rgb, origin_lower=origin == "lower"))
        progress(1.0, "Done")
    if not args.quiet:
        print(f"{field.width}x{field.height} field rendered to {args.output}", file=sys.stderr)
    return 0
