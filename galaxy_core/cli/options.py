"""Options shared by the commands: the field (a demo, one file or three bands), the stretch,
and writing an output file."""

from __future__ import annotations

import argparse
from pathlib import Path

from galaxy_core.display import INTERVALS, RGB_METHODS, STRETCHES, RenderSettings, default_settings
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field


def add_field_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("field", help="FITS, picture, or demo:xdf / demo:synthetic")
    p.add_argument("bands", nargs="*", help="G and B band FITS when FIELD is the R band")
    p.add_argument("--hdu", help="HDU index or name (default: first image HDU)")


def add_render_args(p: argparse.ArgumentParser) -> None:
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
    from galaxy_core.io.demo import DEMO_FIELDS

    hdu = int(args.hdu) if args.hdu is not None and args.hdu.isdigit() else args.hdu
    if args.field.startswith("demo:"):
        name = args.field.removeprefix("demo:")
        if name not in DEMO_FIELDS:
            raise GalaxyCoreError(f"Unknown demo field {name!r}; choose one of {', '.join(DEMO_FIELDS)}.")
        return DEMO_FIELDS[name]()
    from galaxy_core.io.load import load_bands, load_field

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


def write_output(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, a write error as a GalaxyCoreError."""
    try:
        path.write_bytes(data)
    except OSError as err:
        raise GalaxyCoreError(f"Cannot write {path}: {err.strerror or err}") from err
