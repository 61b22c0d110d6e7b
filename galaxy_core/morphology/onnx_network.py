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
import io
import warnings
from pathlib import Path

import numpy as np
import torch

from galaxy_core.errors import GalaxyCoreError

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


def export_source(path: Path) -> str | None:
    """The source hash an ONNX file records under :data:`SOURCE_KEY` (None if unreadable)."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not ONNX, truncated, or the package is missing
        return None
    return {p.key: p.value for p in model.metadata_props}.get(SOURCE_KEY)


def session_options(threads: int | None = None):
    """ONNX Runtime options: ``threads`` intra-op threads (default torch's), quiet."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def onnx_available() -> bool:
    """Whether ONNX Runtime and the ONNX exporter can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


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
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self._session.run(None, {"x": array})[0])
