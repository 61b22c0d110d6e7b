"""``render``: a field as a PNG with an interval and a stretch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galaxy_core.cli.options import (
    add_field_args,
    add_render_args,
    load_cli_field,
    render_settings_of,
    write_output,
)


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render a field to a PNG")
    add_field_args(p)
    add_render_args(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    p.add_argument("--origin", choices=("lower", "upper"), default=None,
                   help="row 0 at the bottom (FITS default) or top (pictures)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_core.display import render
    from galaxy_core.display.annotate import png_bytes

    field = load_cli_field(args)
    rgb = render(field, render_settings_of(args, field))
    origin = args.origin or ("lower" if field.kind == "fits" else "upper")
    write_output(args.output, png_bytes(rgb, origin_lower=origin == "lower"))
    print(f"{field.width}x{field.height} field rendered to {args.output}", file=sys.stderr)
    return 0
