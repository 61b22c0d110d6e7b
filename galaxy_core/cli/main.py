"""``python -m galaxy_core``: parse, run one command, turn every failure into one line.

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

from galaxy_core.cli import classify, detect, export_onnx, render
from galaxy_core.errors import GalaxyCoreError

log = logging.getLogger("galaxy_core")
#: The commands, in the order ``--help`` lists them.
COMMANDS = (detect, render, classify, export_onnx)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 1 unexpected failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return args.run(args)
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
    for command in COMMANDS:
        command.add_parser(sub)
    return parser
