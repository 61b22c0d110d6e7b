"""The classifier's float network exported to ONNX beside its weights, with its settings.

``weights/classifier.onnx`` is the network of ``weights/classifier.pt`` exported
as loaded weights are exported in memory
(:func:`~galaxy_core.morphology.onnx_network.export_bytes`, so the same logits), with
the SHA-256 of that ``.pt`` and the checkpoint's settings as JSON
(:func:`~galaxy_core.morphology.checkpoint.settings_json`).  The classifier loads
from it without importing torch or exporting (about 3 s and 0.5 GB less per
process, ``bench/bench_classifier_load.py``).  An export that records another
``.pt`` (retrained or replaced weights) is ignored and the weights are exported in
memory as before.  ``python -m galaxy_core export-onnx weights/classifier.pt`` writes it.

>>> write(shipped.CLASSIFIER_WEIGHTS)               # weights/classifier.onnx  # doctest: +SKIP
>>> ckpt, network = load(shipped.CLASSIFIER_WEIGHTS)   # or None              # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.atomic import atomic_write
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.onnx_network import SOURCE_KEY, OnnxNetwork, export_bytes, file_sha256

log = logging.getLogger(__name__)

#: ONNX metadata key of the checkpoint's settings (JSON).
SETTINGS_KEY = "galaxy_core_checkpoint"


def exported_path(weights: str | Path) -> Path:
    """Where the export of ``weights`` lies: beside it, suffix ``.onnx``."""
    return Path(weights).with_suffix(".onnx")


def write(weights: str | Path, out: str | Path | None = None) -> Path:
    """Export the classifier checkpoint ``weights`` to ``out`` (default :func:`exported_path`).

    Needs torch and the ``onnx`` package.

    Raises:
        GalaxyCoreError: ``weights`` is not a classifier checkpoint.
    """
    import onnx

    from galaxy_core.morphology.classifier import network_of

    weights = Path(weights)
    ckpt = checkpoint.read(weights)
    model = onnx.load_from_string(export_bytes(network_of(ckpt, path=weights),
                                               (3, ckpt.input_size, ckpt.input_size)))
    for key, value in ((SOURCE_KEY, file_sha256(weights)), (SETTINGS_KEY, checkpoint.settings_json(ckpt))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    out = Path(out) if out is not None else exported_path(weights)
    with atomic_write(out) as fh:
        fh.write(model.SerializeToString())
    return out


def load(weights: str | Path, *, threads: int | None = None
         ) -> tuple[checkpoint.ClassifierCheckpoint, OnnxNetwork] | None:
    """The settings (a checkpoint without weights) and the loaded network of ``weights``'
    export, or None: no weights file, no export, onnxruntime missing, or an export of other
    weights or a broken one (the caller then reads the weights)."""
    weights, path = Path(weights), exported_path(weights)
    if path == weights or not (weights.is_file() and path.is_file()):
        return None
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    try:
        network = OnnxNetwork(path, threads=threads)
        if network.source != file_sha256(weights):
            return None
        return checkpoint.from_settings_json(network.metadata[SETTINGS_KEY], source=f"'{path.name}'"), network
    except (GalaxyCoreError, KeyError) as err:
        log.warning("classifier: ignoring %s (%s); reading %s", path.name, err, weights.name)
        return None
