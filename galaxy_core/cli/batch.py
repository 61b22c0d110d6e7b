"""``batch``: many fields (or whole mosaics) on a Dask cluster, one catalogue.

    python -m galaxy_core batch 'fields/*.fits' @more.txt r.fits,g.fits,b.fits --out cat.parquet
    python -m galaxy_core batch mosaic.fits --out cat.parquet --workers 2
    python -m galaxy_core batch 'fields/*.fits' --out cat.parquet --scheduler tcp://host:8786

Without ``--scheduler`` a LocalCluster of ``--workers`` processes starts on
127.0.0.1 and stops at the end; with it, the batch runs on that cluster and
leaves it running.  Exit status: 0 when every field worked, 3 when some
failed (the summary says which and why), 2 on a user error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galaxy_core.cli.detect import add_run_args, run_settings_of
from galaxy_core.cli.options import (
    CLI_MAX_PIXELS,
    add_render_args,
    check_output_path,
    check_render_options,
    max_pixels_help,
    pixel_count,
    render_options,
)
from galaxy_core.cli.progress import ProgressLine

#: Exit status of a batch in which some fields failed.
SOME_FAILED = 3


def add_parser(sub) -> None:
    p = sub.add_parser("batch", help="many fields on a Dask cluster: one catalogue (Parquet by "
                                     "default), a part per finished field, resumable")
    p.add_argument("fields", nargs="+", metavar="FIELD",
                   help="a file, a glob ('fields/*.fits'), @list.txt (one per line), or three FITS "
                        "as R,G,B (r.fits,g.fits,b.fits)")
    p.add_argument("--out", type=Path, required=True,
                   help="the catalogue: .parquet, .ecsv, .fits or .csv; beside it OUT.summary.csv, "
                        "and OUT.parts/ while the run is not finished")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this Dask scheduler (tcp://host:8786) instead of a local cluster")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip the fields a killed run with the same --out finished (default)")
    p.add_argument("--hdu", help="HDU index or name in every file (default: first image HDU)")
    p.add_argument("--max-pixels", type=pixel_count, default=CLI_MAX_PIXELS, metavar="N",
                   help=max_pixels_help(CLI_MAX_PIXELS))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_render_args(p)
    add_run_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_core.survey.parts import FORMATS
    from galaxy_core.survey.runner import run_batch
    from galaxy_core.survey.specs import expand_fields
    from galaxy_core.survey.work import BatchSettings

    settings = BatchSettings(run_settings_of(args), tuple(render_options(args).items()),
                             max_pixels=args.max_pixels)
    check_render_options(args)
    check_output_path(args.out, tuple(FORMATS), "catalogue")
    if args.workers is not None and args.workers < 1:
        from galaxy_core.errors import GalaxyCoreError

        raise GalaxyCoreError("--workers must be at least 1.")
    hdu = int(args.hdu) if args.hdu is not None and args.hdu.isdigit() else args.hdu
    specs = [type(s)(tuple(str(Path(p).resolve()) for p in s.paths), s.hdu)
             for s in expand_fields(args.fields, hdu=hdu)]

    def log(text: str) -> None:
        line.write(text) if not args.quiet else None

    with ProgressLine(enabled=False if args.quiet else None) as line:
        report = run_batch(specs, settings, args.out, workers=args.workers, scheduler=args.scheduler,
                           resume=args.resume, progress=line, log=log)
    for failure in report.failed:
        print(f"failed: {failure.label}: {failure.message}", file=sys.stderr)
    if not args.quiet:
        print(f"{report.detections} detections from {len(report.results) - len(report.failed)} of "
              f"{len(report.results)} fields written to {args.out} ({report.seconds:.0f} s); "
              f"summary in {report.summary}", file=sys.stderr)
    return SOME_FAILED if report.failed else 0
