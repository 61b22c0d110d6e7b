"""Options shared by the commands: the field (a demo, one file or three bands) and its pixel
limit, the stretch, checking paths before any work, and writing the results.

Every check here runs before a command reads a pixel or loads a model, so a
mistake on the command line costs nothing; each raises GalaxyCoreError with one
line for the user.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path
from typing import TextIO

from galaxy_core.cli.progress import ProgressLine
from galaxy_core.display import INTERVALS, RGB_METHODS, STRETCHES, RenderSettings, default_settings
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.fits import UNPACK_BYTES_PER_PIXEL, byte_count_text
from galaxy_core.io.mosaic import LazyField
from galaxy_core.types import Field

#: The command line's default pixel limit per band (the app's, for uploads, is
#: ``galaxy_core.io.load.MAX_PIXELS``): 400 megapixels, 1.6 GB per float32 band.
CLI_MAX_PIXELS = 400_000_000
#: Bytes per pixel of a band in memory (float32).
BAND_BYTES_PER_PIXEL = 4

_COUNT = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*([kmg]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def pixel_count(text: str) -> int:
    """An argparse type: a pixel count written ``400000000``, ``4e8``, ``400M`` or ``0.4G``
    (k, M, G are 10^3, 10^6, 10^9); a whole number >= 1."""
    match = _COUNT.match(text)
    value = float(match.group(1)) * _SCALE[match.group(2).lower()] if match else math.nan
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a pixel count (write e.g. 400M, 4e8 or 400000000)")
    return int(value)


def max_pixels_help(default: int) -> str:
    """The --max-pixels help: the limit, the memory it implies, how far gzip is unpacked."""
    from galaxy_core.io.load import MAX_PIXELS

    band = BAND_BYTES_PER_PIXEL * default
    return (f"refuse images with more pixels than this per band (default {default / 1e6:g}M; "
            "written 400M, 4e8 or 400000000). A band is float32, 4 bytes a pixel: the default "
            f"takes {byte_count_text(band)} per band, {byte_count_text(3 * band)} for three, "
            "and rendering needs about as much again. A .fits.gz is unpacked no further than "
            f"{UNPACK_BYTES_PER_PIXEL} bytes a pixel ({byte_count_text(UNPACK_BYTES_PER_PIXEL * default)}"
            f"). The app's limit for uploads is {MAX_PIXELS / 1e6:.1f}M.")


def add_field_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("field", help="FITS, picture, or demo:xdf / demo:synthetic")
    p.add_argument("bands", nargs="*", help="G and B band FITS when FIELD is the R band")
    p.add_argument("--hdu", help="HDU index or name (NAME or NAME,VERSION; default: first image "
                                 "HDU); a name two HDUs share is refused")
    p.add_argument("--max-pixels", type=pixel_count, default=CLI_MAX_PIXELS, metavar="N",
                   help=max_pixels_help(CLI_MAX_PIXELS))
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress line and no summary on stderr (progress is shown only when "
                        "stderr is a terminal anyway); errors and notes about the input stay")


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


def field_paths(args: argparse.Namespace) -> list[Path]:
    """The files the field is read from ([] for a demo), each checked to be a readable
    regular file; refused at once otherwise (nothing is read yet)."""
    from galaxy_core.io.demo import DEMO_FIELDS

    if args.field.startswith("demo:"):
        name = args.field.removeprefix("demo:")
        if name not in DEMO_FIELDS:
            raise GalaxyCoreError(f"Unknown demo field {name!r}; choose one of {', '.join(DEMO_FIELDS)}.")
        if args.bands:
            raise GalaxyCoreError("A demo field takes no band files.")
        return []
    if args.bands and len(args.bands) != 2:
        raise GalaxyCoreError("Give one field, or three FITS files (R, G, B bands).")
    paths = [Path(args.field), *map(Path, args.bands)]
    for path in paths:
        check_input_file(path)
    return paths


def check_input_file(path: Path) -> None:
    """Refuse a path that is missing, a directory, or not a regular file (a pipe, a device)."""
    if not path.exists():
        raise GalaxyCoreError(f"No such file: {path}")
    if path.is_dir():
        raise GalaxyCoreError(f"{path} is a directory, not a file.")
    if not path.is_file():
        raise GalaxyCoreError(f"{path} is not a regular file (a pipe, socket or device).")
    if not os.access(path, os.R_OK):
        raise GalaxyCoreError(f"{path} cannot be read (permission denied).")


def check_output_path(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse an output path with a suffix not in ``suffixes``, or whose folder is missing or
    not writable, or that is a directory; nothing is written yet."""
    if path.suffix.lower() not in suffixes:
        raise GalaxyCoreError(
            f"Cannot tell the {what} format of {path.name!r}: use {', '.join(suffixes)}.")
    if path.is_dir():
        raise GalaxyCoreError(f"{path} is a directory; name a file to write.")
    parent = path.parent
    if not parent.is_dir():
        raise GalaxyCoreError(f"Cannot write {path}: the folder {parent} does not exist.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GalaxyCoreError(f"Cannot write {path}: the folder {parent} is not writable.")


def check_render_options(args: argparse.Namespace) -> None:
    """Refuse stretch options that no field's defaults could make valid (before any reading):
    a percentile given alone is checked against the widest partner."""
    given = render_options(args)
    probe = dict(given)
    if "lower_percent" in given and "upper_percent" not in given:
        probe["upper_percent"] = 100.0
    if "upper_percent" in given and "lower_percent" not in given:
        probe["lower_percent"] = 0.0
    if probe.get("interval") == "manual" and not {"vmin", "vmax"} <= set(given):
        probe.pop("interval")  # a picture's defaults supply the levels
    RenderSettings(**probe)
    if args.colormap is not None:
        import matplotlib

        if args.colormap not in matplotlib.colormaps:
            raise GalaxyCoreError(
                f"Unknown colormap {args.colormap!r}; use a matplotlib name such as gray, "
                "viridis or magma.")


def load_cli_field(args: argparse.Namespace, *, notes: list[str] | None = None) -> Field | LazyField:
    """The field named on the command line (a demo, one file, or three bands) under the
    ``--max-pixels`` limit; what was odd but read is appended to ``notes``.  An uncompressed
    FITS field too large to hold is opened to be read window by window
    (:func:`galaxy_core.io.load.open_field`)."""
    from galaxy_core.io.demo import DEMO_FIELDS

    paths = field_paths(args)
    if not paths:
        return DEMO_FIELDS[args.field.removeprefix("demo:")]()
    from galaxy_core.io.load import open_field

    hdu = int(args.hdu) if args.hdu is not None and args.hdu.isdigit() else args.hdu
    max_pixels = getattr(args, "max_pixels", CLI_MAX_PIXELS)
    return open_field(paths, hdu=hdu, max_pixels=max_pixels, notes=notes)


def render_options(args: argparse.Namespace) -> dict:
    """The stretch options given on the command line, as RenderSettings fields."""
    options = {
        "interval": args.interval, "percent": args.percent, "lower_percent": args.lower,
        "upper_percent": args.upper, "vmin": args.vmin, "vmax": args.vmax, "stretch": args.stretch,
        "a": args.a, "colormap": args.colormap, "rgb_method": args.rgb_method,
        "lupton_q": args.q, "lupton_stretch": args.lupton_stretch, "lupton_minimum": args.minimum,
    }
    given = {k: v for k, v in options.items() if v is not None}
    if args.vmin is not None and args.vmax is not None and args.interval is None:
        given["interval"] = "manual"
    return given


def render_settings_of(args: argparse.Namespace, field: Field | LazyField) -> RenderSettings:
    """The field's default stretch with the options given on the command line applied."""
    return default_settings(field).with_(**render_options(args))


def print_notes(notes: list[str], line: ProgressLine | None = None) -> None:
    """Each note as a ``note: ...`` line on stderr (above the progress ``line`` if any)."""
    for note in notes:
        if line is not None:
            line.write(f"note: {note}")
        else:
            print(f"note: {note}", file=sys.stderr)


def result_stream(args: argparse.Namespace) -> TextIO:
    """Where a command writes its result (the catalogue): ``args.stdout``, which ``main``
    sets to a buffer it copies to the real stdout when the command succeeds."""
    return getattr(args, "stdout", None) or sys.stdout


def write_output(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all; a write error as a GalaxyCoreError."""
    from galaxy_core.io.atomic import atomic_write

    try:
        with atomic_write(path) as fh:
            fh.write(data)
    except OSError as err:
        raise GalaxyCoreError(f"Cannot write {path}: {err.strerror or err}") from err
