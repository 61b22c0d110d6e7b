"""The shipped morphology classifier: load the weights, predict six class probabilities.

>>> clf = Classifier.load()                      # weights/classifier.pt   # doctest: +SKIP
>>> probs = clf.predict([crop_a, crop_b])        # (2, 6), rows sum to 1   # doctest: +SKIP

Every crop is scale-normalised with the framing settings stored in the
checkpoint (:mod:`galaxy_core.morphology.framing`), so a cutout, a picture of one galaxy
or a crop around a detection can be passed as is.  Test-time augmentation
averages the logits over the 8 rotations by 90 degrees and flips (a galaxy has
no preferred orientation); probabilities are temperature-scaled.

The network runs through ONNX Runtime when it is installed (the same logits
to 1e-5, about 1.6x faster on 2 CPU cores), else through PyTorch.  The shipped
weights load from their export beside them without importing torch
(:mod:`galaxy_core.morphology.exported`); other weights are exported in memory
when they load (:mod:`galaxy_core.morphology.onnx_network`).

A loaded Classifier is read-only: ``predict`` runs an ONNX Runtime session (or a
model in eval mode under ``torch.inference_mode``) and keeps no state between
calls, so one instance can serve concurrent Streamlit sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from galaxy_core import shipped
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.picture import read_rgb
from galaxy_core.morphology import checkpoint, exported
from galaxy_core.morphology.calibration import softmax
from galaxy_core.morphology.framing import FramingSettings, normalise_scale
from galaxy_core.morphology.onnx_network import BACKENDS, OnnxNetwork, onnx_available
from galaxy_core.morphology.reliability import AccuracyGrid, ReliabilityRule
from galaxy_core.types import CLASS_NAMES

if TYPE_CHECKING:  # torch is imported only where a torch network is built
    import torch

log = logging.getLogger(__name__)

#: An engine: normalised float32 (N, 3, S, S) batch -> float32 logits (N, classes).
Network = Callable[[np.ndarray], np.ndarray]


def dihedral_views(x: np.ndarray) -> list[np.ndarray]:
    """The 8 rotations by k x 90 degrees, with and without a flip, of a (N, C, H, W) batch."""
    views = []
    for flip in (False, True):
        base = x[..., ::-1] if flip else x
        views.extend(np.rot90(base, k, axes=(-2, -1)) for k in range(4))
    return views


def network_input(framed: Sequence[np.ndarray] | np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The network's input, float32 (N, 3, S, S), of uint8 (S, S, 3) framed crops: [0, 1] pixels
    less ``mean`` over ``std`` (float32, broadcastable to (1, 3, 1, 1))."""
    x = np.stack(framed).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    return (x - mean) / std


def float_state_dict(state: dict) -> dict:
    """A stored (fp16) state dict with its floating-point tensors in float32, ready to load."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def network_of(ckpt: checkpoint.ClassifierCheckpoint, *, path: Path | None = None) -> torch.nn.Module:
    """The checkpoint's ResNet18 with its weights in float32, in eval mode.

    Raises:
        GalaxyCoreError: weights that do not fit the network (``path`` names the file).
    """
    from galaxy_core.morphology.resnet import resnet18

    model = resnet18(num_classes=len(ckpt.class_names))
    try:
        model.load_state_dict(float_state_dict(ckpt.state_dict))
    except (RuntimeError, KeyError, TypeError) as err:
        where = f" {path.name}" if path is not None else ""
        raise GalaxyCoreError(f"The classifier weights{where} do not fit a ResNet18: {err}") from err
    return model.eval()


class Classifier:
    """ResNet18 morphology classifier with its preprocessing and calibration.

    Attributes:
        class_names: the six classes, in output order.
        input_size: network input side, px.
        framing: scale-normalisation settings used in training.
        temperature: logit temperature without TTA; ``temperature_tta`` with it.
        tta: whether :meth:`predict` uses TTA by default.
        metrics: the validation metrics stored with the weights.
        reliability: when a class is trusted (size and peak S/N), as the benches
            measured it for these weights (None when not measured).
        recipe: the training recipe stored with the weights (arguments, seed, counts).
        accuracy_grid: accuracy by measured extent and peak S/N, as
            ``bench/bench_reliability.py`` measured it for these weights
            (:class:`~galaxy_core.morphology.reliability.AccuracyGrid`; None when not measured).
        adaptation: the card of weights adapted to a user's labels (base weights and
            SHA-256, labels, settings, cross-validated figures; None for trained weights).
        backend: the engine that runs the network, "onnx" or "torch" (chosen by
            the ``backend`` argument: "auto" takes ONNX Runtime when it is installed).
        model: the torch network; None when the classifier was loaded from its export
            (load it with ``backend="torch"`` to have it).
    """

    def __init__(self, model: torch.nn.Module | None, *, class_names: Sequence[str], input_size: int,
                 mean: Sequence[float], std: Sequence[float], framing: FramingSettings,
                 temperature: float = 1.0, temperature_tta: float | None = None, tta: bool = True,
                 metrics: dict | None = None, path: Path | None = None, backend: str = "auto",
                 reliability: ReliabilityRule | None = None, recipe: dict | None = None,
                 accuracy_grid: AccuracyGrid | None = None, adaptation: dict | None = None,
                 network: Network | None = None) -> None:
        """``network``: an ONNX Runtime engine already loaded (then ``model`` may be None)."""
        self.model = None if model is None else model.eval()
        self.class_names = tuple(class_names)
        self.input_size = int(input_size)
        self._mean = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
        self.framing = framing
        self.temperature = float(temperature)
        self.temperature_tta = float(temperature_tta if temperature_tta else temperature)
        self.tta = bool(tta)
        self.metrics = dict(metrics or {})
        self.path = path
        self.reliability = reliability
        self.recipe = dict(recipe or {})
        self.accuracy_grid = accuracy_grid
        self.adaptation = dict(adaptation) if adaptation else None
        if network is not None:
            self.backend, self._network = "onnx", network
        else:
            self.backend, self._network = _engine(self.model, backend, self.input_size)

    def __repr__(self) -> str:
        return (f"Classifier(path={str(self.path)!r}, input_size={self.input_size}, "
                f"classes={len(self.class_names)}, T={self.temperature:.3f}, tta={self.tta}, "
                f"backend={self.backend!r})")

    @property
    def train_distant_p(self) -> float:
        """Probability of the DistantGalaxy step in the training recipe (0 when it had none)."""
        return float(self.recipe.get("args", {}).get("distant_p") or 0.0)

    @property
    def train_distant_snr(self) -> tuple[float, float] | None:
        """The DistantGalaxy step's sky-noise S/N range in the training recipe (None: no noise)."""
        snr = self.recipe.get("args", {}).get("distant_snr")
        return (float(snr[0]), float(snr[1])) if snr else None

    @classmethod
    def from_checkpoint(cls, ckpt: checkpoint.ClassifierCheckpoint, *, path: Path | None = None,
                        backend: str = "auto", network: Network | None = None) -> Classifier:
        """The network of a validated checkpoint, ready to predict (``network``: its engine,
        already loaded; the checkpoint's weights are then not needed)."""
        model = None if network is not None else network_of(ckpt, path=path)
        return cls(model, class_names=ckpt.class_names, input_size=ckpt.input_size, mean=ckpt.mean,
                   std=ckpt.std, framing=ckpt.framing, temperature=ckpt.temperature,
                   temperature_tta=ckpt.temperature_tta, tta=ckpt.tta, metrics=ckpt.metrics,
                   path=path, backend=backend, reliability=ckpt.reliability, recipe=ckpt.recipe,
                   accuracy_grid=ckpt.accuracy_grid, adaptation=ckpt.adaptation, network=network)

    @classmethod
    def load(cls, path: str | Path | None = None, *, backend: str = "auto") -> Classifier:
        """Load a checkpoint (:mod:`galaxy_core.morphology.checkpoint`); default the shipped one.

        ``backend`` picks the engine: "auto", "onnx" or "torch" (see :class:`Classifier`).
        With "auto" or "onnx", an up-to-date export beside the weights is loaded instead of
        the weights (:mod:`galaxy_core.morphology.exported`).

        Raises:
            GalaxyCoreError: missing, unreadable or foreign weights.
        """
        path = Path(path) if path is not None else shipped.CLASSIFIER_WEIGHTS
        if backend in ("auto", "onnx"):
            found = exported.load(path)
            if found is not None:
                return cls.from_checkpoint(found[0], path=path, network=found[1])
        return cls.from_checkpoint(checkpoint.read(path), path=path, backend=backend)

    def frame(self, crop: np.ndarray) -> np.ndarray:
        """One crop scale-normalised to the network's input: uint8 (size, size, 3)."""
        return normalise_scale(crop, self.input_size, settings=self.framing)

    def logits(self, crops: Sequence[np.ndarray] | np.ndarray, *, tta: bool | None = None,
               batch_size: int = 256, framed: bool = False) -> np.ndarray:
        """Raw logits (N, 6), averaged over the 8 dihedral views with TTA."""
        tta = self.tta if tta is None else tta
        crops = list(crops) if not isinstance(crops, np.ndarray) or crops.ndim == 4 else [crops]
        if not crops:
            return np.zeros((0, len(self.class_names)), dtype=np.float64)
        out = []
        for start in range(0, len(crops), batch_size):
            images = [np.asarray(c) for c in crops[start:start + batch_size]]
            if not framed:
                images = [self.frame(c) for c in images]
            elif any(c.shape != (self.input_size, self.input_size, 3) for c in images):
                raise GalaxyCoreError(f"Framed crops must be {self.input_size}x{self.input_size}x3.")
            x = network_input(images, self._mean, self._std)
            if tta:  # the mean of the 8 views' float32 logits, summed in float64
                out.append(np.mean([self._network(v) for v in dihedral_views(x)], axis=0, dtype=np.float64))
            else:
                out.append(self._network(x).astype(np.float64))
        return np.concatenate(out)

    def predict(self, crops: Sequence[np.ndarray] | np.ndarray, *, tta: bool | None = None,
                batch_size: int = 256, framed: bool = False) -> np.ndarray:
        """Calibrated class probabilities (N, 6) in CLASS_NAMES order; rows sum to 1.

        Args:
            crops: uint8 RGB images (H, W, 3), any framing (a list, or an (N, H, W, 3) array).
            tta: average over the 8 rotations/flips (default: the checkpoint's choice).
            batch_size: crops per forward pass.
            framed: the crops are already framed at the input size (skip framing).
        """
        tta = self.tta if tta is None else tta
        z = self.logits(crops, tta=tta, batch_size=batch_size, framed=framed)
        return softmax(z, self.temperature_tta if tta else self.temperature)

    def classify_paths(self, paths: Sequence[str | Path], *, tta: bool | None = None) -> pd.DataFrame:
        """Classify image files: columns ``path, label`` and the six class probabilities.

        Raises:
            GalaxyCoreError: an unreadable image (the message names the file).
        """
        images = [read_rgb(p) for p in paths]
        probs = self.predict(images, tta=tta)
        df = pd.DataFrame(probs, columns=list(self.class_names))
        df.insert(0, "label", [self.class_names[i] for i in probs.argmax(axis=1)] if len(probs) else [])
        df.insert(0, "path", [str(p) for p in paths])
        return df


def _engine(model: torch.nn.Module, backend: str, input_size: int) -> tuple[str, Network]:
    """(name, callable) of the engine that runs ``model``: ONNX Runtime or PyTorch."""
    if backend not in BACKENDS:
        raise GalaxyCoreError(f"Unknown classifier backend {backend!r}; use one of {BACKENDS}.")
    if backend == "torch" or (backend == "auto" and not onnx_available()):
        return "torch", torch_network(model)
    try:
        return "onnx", OnnxNetwork.export(model, input_shape=(3, input_size, input_size))
    except (GalaxyCoreError, ImportError) as err:
        if backend == "onnx":
            raise GalaxyCoreError(f"The classifier cannot run through ONNX Runtime: {err}") from err
        log.warning("classifier: ONNX Runtime unavailable (%s); running PyTorch", err)
        return "torch", torch_network(model)


def torch_network(model: torch.nn.Module) -> Network:
    """``model`` as an engine on numpy batches, under ``torch.inference_mode``."""
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    return run


def classify_paths(paths: Sequence[str | Path], *, tta: bool | None = None,
                   weights: str | Path | None = None) -> pd.DataFrame:
    """Load the shipped classifier and classify image files (see :meth:`Classifier.classify_paths`)."""
    return Classifier.load(weights).classify_paths(paths, tta=tta)


__all__ = ["CLASS_NAMES", "Classifier", "classify_paths", "dihedral_views"]
