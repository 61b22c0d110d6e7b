"""The runtime stays light: the sep path and the package's face import neither torch nor ultralytics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from astropy.io import fits

CHECK = """
import sys
from galaxy_core.cli import main
status = main(["detect", sys.argv[1], "--method", "sep", "--no-classify"])
heavy = sorted(m for m in ("torch", "torchvision", "ultralytics", "onnxruntime") if m in sys.modules)
print("HEAVY", ",".join(heavy), status, file=sys.stderr)
"""


def test_sep_catalogue_imports_no_deep_learning_package(tmp_path):
    data = np.random.default_rng(0).normal(0, 1, (64, 64)).astype(np.float32)
    data[30:34, 30:34] += 50
    fits.writeto(tmp_path / "f.fits", data)
    done = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "f.fits")], capture_output=True,
                          text=True, timeout=120)
    assert "HEAVY  0" in done.stderr, done.stderr
    assert done.stdout.startswith("id,x_min,")
