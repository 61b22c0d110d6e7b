"""``export-onnx``: a detector's or classifier's ``.pt`` as ONNX, which the model then runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galaxy_core.cli.options import check_input_file, check_output_path


def add_parser(sub) -> None:
    p = sub.add_parser("export-onnx", help="export the YOLO detector's or the classifier's .pt to ONNX "
                                           "(then run by ONNX Runtime without torch)")
    p.add_argument("weights", nargs="?", type=Path,
                   help="the .pt: the detector's or the classifier's (default weights/detector.pt)")
    p.add_argument("-o", "--output", type=Path, help="ONNX file (default: beside the .pt)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from galaxy_core import shipped

    weights = args.weights or shipped.DETECTOR_WEIGHTS
    check_input_file(weights)
    if args.output is not None:
        check_output_path(args.output, (".onnx",), "model")
    if _is_classifier(weights):
        from galaxy_core.morphology.exported import write as export_onnx
    else:
        from galaxy_core.detection.yolo import export_onnx
    out = export_onnx(weights, args.output)
    print(f"ONNX export written to {out}", file=sys.stderr)
    return 0


def _is_classifier(weights: Path) -> bool:
    """Whether ``weights`` is a classifier checkpoint of this tool (else a detector's ``.pt``)."""
    from galaxy_core.errors import GalaxyCoreError
    from galaxy_core.morphology import checkpoint

    try:
        checkpoint.read(weights)
    except GalaxyCoreError:
        return False
    return True
