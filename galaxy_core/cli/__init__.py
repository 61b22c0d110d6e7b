"""Command-line interface: ``python -m galaxy_core {detect,render,classify,export-onnx} ...``.

One module per command (each has ``add_parser(sub)`` and its ``run(args)``),
the shared field and stretch options in :mod:`galaxy_core.cli.options`, and
:func:`main` in :mod:`galaxy_core.cli.main`.
"""

from galaxy_core.cli.main import main

__all__ = ["main"]
