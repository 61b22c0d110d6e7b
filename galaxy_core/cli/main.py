"""``python -m galaxy_core``: parse, run one command, turn every failure into one line.

A FIELD is a FITS file, a picture (PNG/JPEG/TIFF), or a bundled demo field
named ``demo:xdf`` or ``demo:synthetic``.  Giving three FITS files makes them
the R, G and B bands of one field.

The contract: stdout holds only the command's result (the catalogue), on every
run, a library's first-run chatter included; progress, notes and messages go
to stderr.  Options and paths are checked before any work.  Exit status 0 on
success, 2 on a user error (one ``error: ...`` line on stderr), 1 on an
unexpected failure (one line too), never a traceback.

    python -m galaxy_core detect demo:synthetic --method sep --out catalog.ecsv
    python -m galaxy_core render field.fits --stretch asinh --a 0.05 -o field.png
    python -m galaxy_core classify galaxy1.jpg galaxy2.jpg [--tta | --no-tta]

A command module has ``add_parser(sub)`` and ``run(args) -> status``; it writes
its result to ``args.stdout`` (see :func:`galaxy_core.cli.options.result_stream`),
which reaches stdout only when it succeeds, and while it runs ``sys.stdout`` is
stderr.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout

from galaxy_core.cli import adapt, batch, classify, detect, export_onnx, render
from galaxy_core.errors import GalaxyCoreError

log = logging.getLogger("galaxy_core")
#: The commands, in the order ``--help`` lists them.
COMMANDS = (detect, batch, render, classify, adapt, export_onnx)


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``error: ...``, with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 1 unexpected failure)."""
    args = build_parser().parse_args(argv)
    quiet_libraries()
    args.stdout = io.StringIO()
    try:
        with warnings.catch_warnings(), stdout_to_stderr():
            warnings.simplefilter("ignore")
            status = args.run(args)
    except GalaxyCoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # never a traceback for the user; the log has the details
        log.debug("unexpected failure", exc_info=True)
        print(f"error: unexpected failure ({type(err).__name__}: {err})", file=sys.stderr)
        return 1
    return write_result(args.stdout.getvalue(), status)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m galaxy_core", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def quiet_libraries() -> None:
    """ultralytics works offline and keeps its settings in the repository (a user's own
    environment variables win)."""
    from galaxy_core.shipped import REPO_ROOT

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO_ROOT / ".yolo_config"))


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a command computes, what anything prints to stdout goes to stderr: Python code
    (``sys.stdout``) and, when stdout is the process's own, native code and handlers that
    hold the original stream (file descriptor 1)."""
    saved = _move_fd(1, 2) if sys.stdout is sys.__stdout__ else None
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            _flush(sys.__stdout__)  # what a library buffered there goes to stderr too
            os.dup2(saved, 1)
            os.close(saved)


def _move_fd(fd: int, to: int) -> int | None:
    """Point ``fd`` at ``to``; a copy of the old ``fd`` to restore, or None if that failed."""
    _flush(sys.__stdout__)
    try:
        saved = os.dup(fd)
    except OSError:  # a closed stdout: nothing to protect
        return None
    try:
        os.dup2(to, fd)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush(stream) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


def write_result(text: str, status: int) -> int:
    """Write the command's result to stdout; ``status``, or 1 if stdout is closed (``| head``
    stopped reading, or ``>&-``)."""
    if not text:
        return status
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)  # no second error when Python exits
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (AttributeError, OSError, ValueError) as err:  # no stdout at all
        print(f"error: the result could not be written to stdout ({type(err).__name__}).",
              file=sys.stderr)
        return 1
    return status
