"""Command-line interface: ``python -m galaxy_core {detect,render,classify,export-onnx} ...``.

One module per command (each has ``add_parser(sub)`` and its ``run(args)``),
the shared field and stretch options and the checks made before any work in
:mod:`galaxy_core.cli.options`, the stderr progress line in
:mod:`galaxy_core.cli.progress`, and :func:`main` (stdout holds only the
result; exit status 0, 2 for a user error, 1 otherwise) in
:mod:`galaxy_core.cli.main`.
"""

from galaxy_core.cli.main import main

__all__ = ["main"]
