"""Run a PyTorch image network through ONNX Runtime, exported in memory.

The classifier's ResNet18 runs about 1.6x faster on 2 CPU cores in ONNX
Runtime than in PyTorch (``bench/bench_classifier.py`` prints both).  The
export is made from the loaded weights when the classifier loads (under a
second, nothing written to disk), so it can never go stale.

>>> net = OnnxNetwork(model, input_shape=(3, 96, 96))        # doctest: +SKIP
>>> logits = net(batch)          # torch (N, 3, 96, 96) -> torch (N, classes)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from galaxy_core.errors import GalaxyCoreError

if TYPE_CHECKING:  # torch is imported where a network is exported: the YOLO ONNX path runs without it
    import torch

#: Inference engines of :class:`~galaxy_core.morphology.classifier.Classifier`.
BACKENDS = ("auto", "onnx", "torch")
#: ONNX metadata key of the SHA-256 of the weights file an ONNX file was made from.
SOURCE_KEY = "galaxy_core_source_sha256"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file (hex), read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def session_source(session) -> str | None:
    """The source hash an ONNX Runtime session's model records under :data:`SOURCE_KEY` (or None).

    Read from the loaded session: importing the ``onnx`` package only for this costs about 1 s.
    """
    return session.get_modelmeta().custom_metadata_map.get(SOURCE_KEY)


def default_threads() -> int:
    """Intra-op threads for ONNX Runtime: torch's count when torch is loaded, else
    ``OMP_NUM_THREADS``, else the CPUs this process may use."""
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return max(1, len(os.sched_getaffinity(0)))


def session_options(threads: int | None = None):
    """ONNX Runtime options: ``threads`` intra-op threads (default :func:`default_threads`), quiet,
    idle threads not spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or default_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # idle pool threads sleep instead of spinning, so a session that has finished leaves the
    # cores to the framing thread and other sessions (the detector alone: 1.26 s against 1.22 s
    # spinning on a 2048 px field, within this machine's noise)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def onnx_available() -> bool:
    """Whether ONNX Runtime and the ONNX package are installed (looked up, not imported)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


class OnnxNetwork:
    """A torch module (eval mode, one image batch in, one tensor out) run by ONNX Runtime.

    Args:
        model: the network; exported once with a dynamic batch dimension.
        input_shape: (channels, height, width) of one input image.
        threads: ONNX Runtime intra-op threads (default: torch's current thread count).

    Thread-safe: ONNX Runtime sessions accept concurrent ``run`` calls.

    Raises:
        GalaxyCoreError: the export or the session could not be made.
    """

    def __init__(self, model: torch.nn.Module, *, input_shape: tuple[int, int, int],
                 threads: int | None = None) -> None:
        import onnxruntime as ort
        import torch

        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
                torch.onnx.export(model.eval(), torch.zeros((1, *input_shape)), buffer,
                                  input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
            options = session_options(threads)
            self._session = ort.InferenceSession(buffer.getvalue(), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # the exporter and ORT raise many unrelated types
            raise GalaxyCoreError(f"Could not run the network through ONNX Runtime: {err}") from err
        self.threads = options.intra_op_num_threads

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for a float32 (N, C, H, W) batch, as a float32 tensor."""
        import torch

        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self._session.run(None, {"x": array})[0])
