"""Run an image network through ONNX Runtime: a shipped export, or a torch module exported in memory.

The classifier's ResNet18 runs about 1.6x faster on 2 CPU cores in ONNX
Runtime than in PyTorch (``bench/bench_classifier.py`` prints both).  The
shipped weights' export lies beside them (:mod:`galaxy_core.morphology.exported`);
other weights are exported from the loaded network when they load (about 1.3 s,
nothing written to disk), so an export can never go stale.

>>> net = OnnxNetwork.export(model, input_shape=(3, 96, 96))   # doctest: +SKIP
>>> logits = net(batch)          # float32 (N, 3, 96, 96) -> float32 (N, classes)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import sys
import warnings
from functools import lru_cache
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
    """The SHA-256 of a file (hex), computed once per file version (path, mtime, size).

    Raises:
        OSError: no such file.
    """
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=16)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """The SHA-256 of the file at ``path`` (hex), read in 1 MB blocks."""
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


def export_bytes(model: torch.nn.Module, input_shape: tuple[int, int, int]) -> bytes:
    """``model`` (eval mode) as ONNX bytes: input ``x`` (N, C, H, W), output ``y``, N dynamic.

    The one export of a classifier network: the in-memory one, the shipped file
    (:mod:`galaxy_core.morphology.exported`) and the int8 quantisation's start all come from here.
    """
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model.eval(), torch.zeros((1, *input_shape)), buffer,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)
    return buffer.getvalue()


class OnnxNetwork:
    """An image network (one float32 batch in, one array out) run by ONNX Runtime.

    Args:
        model: ONNX bytes or the path of an ``.onnx`` file (see :meth:`export` for a torch module).
        threads: ONNX Runtime intra-op threads (default :func:`default_threads`).

    Attributes:
        source: the SHA-256 of the weights file the model records it was made from (or None).
        metadata: the model's custom metadata (key -> string).

    Thread-safe: ONNX Runtime sessions accept concurrent ``run`` calls.

    Raises:
        GalaxyCoreError: the session could not be made (not an ONNX model, a broken file).
    """

    def __init__(self, model: bytes | str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = session_options(threads)
        try:
            self._session = ort.InferenceSession(model if isinstance(model, bytes) else str(model),
                                                 options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own unrelated types
            raise GalaxyCoreError(f"Could not run the network through ONNX Runtime: {err}") from err
        self.threads = options.intra_op_num_threads
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.source = self.metadata.get(SOURCE_KEY)

    @classmethod
    def export(cls, model: torch.nn.Module, *, input_shape: tuple[int, int, int],
               threads: int | None = None) -> OnnxNetwork:
        """A torch module exported in memory (:func:`export_bytes`) and loaded.

        Raises:
            GalaxyCoreError: the export or the session could not be made.
        """
        try:
            exported = export_bytes(model, input_shape)
        except Exception as err:  # the exporter raises many unrelated types
            raise GalaxyCoreError(f"Could not export the network to ONNX: {err}") from err
        return cls(exported, threads=threads)

    def __call__(self, x) -> np.ndarray:
        """The network's output, float32, for a float32 (N, C, H, W) batch (an array or a CPU tensor)."""
        return self._session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})[0]
