"""The classifier's cheaper path: its network quantised to 8-bit integers, for objects it cannot trust.

An object whose framing measures an extent or a peak S/N below those from which the
classifier's class is trusted (:class:`~galaxy_core.morphology.reliability.ReliabilityRule`)
is flagged unreliable, and a deep field holds thousands of them (1,755 of the XDF's
1,784).  Their probabilities are computed by the
network quantised to int8 (ONNX Runtime static quantisation, per-channel
weights, activations calibrated on framed training crops by
``python -m training.classifier.quantize``): about 1.6 times as many crops per
second on 2 cores, with the same top class as the float network for about 97
in 100 crops (the script prints its measured figures).  The catalogue says
which network classified each row (``class_precision``).

The quantised file lies beside the weights (``classifier_int8.onnx``) and records
the SHA-256 of the ``.pt`` it was made from; a stale one is ignored.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from galaxy_core.morphology.calibration import softmax
from galaxy_core.morphology.classifier import network_input
from galaxy_core.morphology.onnx_network import OnnxNetwork, default_threads, file_sha256

#: The quantised network's file name beside the weights ``classifier.pt``.
SUFFIX = "_int8.onnx"


def int8_path(weights: Path) -> Path:
    """Where the quantised network of ``weights`` lies (beside it)."""
    return Path(weights).with_name(Path(weights).stem + SUFFIX)


class Int8Network:
    """A quantised classifier network run by ONNX Runtime (uint8 framed crops in, logits out).

    Raises:
        GalaxyCoreError: not a readable ONNX model.
    """

    def __init__(self, path: Path, *, mean, std, threads: int | None = None) -> None:
        self.path = Path(path)
        self._network = OnnxNetwork(self.path, threads=threads)
        self.source = self._network.source
        self._mean = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(std, np.float32).reshape(1, 3, 1, 1)

    def logits(self, framed: np.ndarray) -> np.ndarray:
        """Logits (N, classes), float64, of uint8 (N, size, size, 3) framed crops."""
        return self._network(network_input(framed, self._mean, self._std)).astype(np.float64)


def quantised(classifier) -> Int8Network | None:
    """The classifier's quantised network, when an up-to-date one lies beside its weights."""
    if getattr(classifier, "path", None) is None:
        return None
    path = int8_path(classifier.path)
    if not path.is_file():
        return None
    versions = (path.stat().st_mtime_ns, Path(classifier.path).stat().st_mtime_ns,
                Path(classifier.path).stat().st_size)
    return _load(str(path), str(classifier.path), versions, tuple(classifier._mean.ravel().tolist()),
                 tuple(classifier._std.ravel().tolist()))


@lru_cache(maxsize=4)
def _load(path: str, weights: str, versions: tuple, mean: tuple, std: tuple) -> Int8Network | None:
    """The network at ``path`` if it was made from ``weights`` (cached per file versions)."""
    try:
        network = Int8Network(Path(path), mean=mean, std=std, threads=beside_framing_threads())
    except Exception:  # onnxruntime missing or a broken file: the float network does it all
        return None
    return network if network.source == file_sha256(Path(weights)) else None  # else other weights'


def beside_framing_threads() -> int:
    """Intra-op threads of the quantised network: one fewer than the default
    (:func:`~galaxy_core.morphology.onnx_network.default_threads`), because the pipeline frames
    the next batch on a thread beside it (on 2 cores, 1 thread classified 4,135 crops in 9.8 s
    against 12.0 s with 2, measured in one run)."""
    return max(1, default_threads() - 1)


def predict_int8(network: Int8Network, framed: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities (N, classes) of framed crops through the quantised network."""
    return softmax(network.logits(framed), temperature)
