"""The classifier's checkpoint: its one schema, its only reader and its only writer.

A checkpoint is a ``torch.save``-d dict (read back with ``weights_only=True``)
holding the fp16 weights and everything inference needs, so that training and
serving cannot drift apart:

========================  ==============================================================
``format``                :data:`FORMAT` (a file without it is refused)
``arch``                  ``"resnet18"``
``state_dict``            the network's weights (floating point tensors may be fp16)
``class_names``           the classes in output order
``input_size``            the network's input side, px
``mean``, ``std``         the per-channel normalisation of [0, 1] pixels
``framing``               :class:`~galaxy_core.morphology.framing.FramingSettings` as a dict
``temperature``           logit temperature without TTA (calibration; default 1)
``temperature_tta``       the same with TTA (None: ``temperature``)
``tta``                   whether prediction uses TTA by default
``min_extent_px``         the size (px) from which a class is trusted (``bench_resolution``)
``min_peak_snr``          the peak S/N from which it is trusted (``bench_reliability``)
``accuracy_grid``         accuracy by extent x peak S/N (``bench_reliability``)
``recipe``                how the weights were made (training arguments, inputs, card)
``metrics``, ``history``  validation figures and the training curve
``adaptation``            the card of weights adapted to a user's labels
                          (:mod:`galaxy_core.morphology.adapt`; None for trained weights)
========================  ==============================================================

Training, weight averaging, adaptation and the benches that store measured
thresholds all go through :func:`read` and :func:`write`.  Everything but the
weights and the training curve also has a JSON form (:func:`settings_json`), which
the shipped ONNX export carries so that inference can start without torch.

>>> ckpt = read(shipped.CLASSIFIER_WEIGHTS)       # doctest: +SKIP
>>> write(replace(ckpt, temperature=0.7), path)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.atomic import atomic_write
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.morphology.reliability import AccuracyGrid, ReliabilityRule

#: The format tag of every checkpoint this module writes and reads.
FORMAT = "galaxy_core.classifier/1"
#: The architectures a checkpoint may name.
ARCHS = ("resnet18",)
#: Fields that every checkpoint must hold (the rest have defaults).
REQUIRED = ("format", "arch", "state_dict", "class_names", "input_size", "mean", "std", "framing")
#: Fields that inference depends on: checkpoints averaged or adapted together must agree on them.
INFERENCE_FIELDS = ("arch", "class_names", "input_size", "mean", "std", "framing")


@dataclass(frozen=True, eq=False)
class ClassifierCheckpoint:
    """A validated checkpoint (see the module docstring for each field)."""

    state_dict: dict
    class_names: tuple[str, ...]
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    framing: FramingSettings
    arch: str = "resnet18"
    temperature: float = 1.0
    temperature_tta: float | None = None
    tta: bool = True
    min_extent_px: float | None = None
    min_peak_snr: float | None = None
    accuracy_grid: AccuracyGrid | None = None
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    adaptation: dict | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise GalaxyCoreError(f"Unknown classifier architecture {self.arch!r}; known: {ARCHS}.")
        if int(self.input_size) < 32:
            raise GalaxyCoreError(f"The classifier's input size must be at least 32 px, got {self.input_size}.")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise GalaxyCoreError("The classifier's normalisation needs three means and three stds > 0.")
        if len(self.class_names) < 2:
            raise GalaxyCoreError("A classifier needs at least two classes.")

    @property
    def reliability(self) -> ReliabilityRule | None:
        """When a class is trusted, as measured for these weights (None where not measured)."""
        if self.min_extent_px is None:
            return None
        return ReliabilityRule(self.min_extent_px, self.min_peak_snr)

    def to_dict(self) -> dict:
        """The plain dict ``torch.save`` writes (``weights_only`` loadable)."""
        out = {"format": FORMAT}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "framing":
                value = value.as_dict()
            elif f.name == "accuracy_grid":
                value = None if value is None else value.as_dict()
            elif f.name in ("class_names", "mean", "std"):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "the checkpoint") -> ClassifierCheckpoint:
        """A checkpoint from a loaded dict; a clear GalaxyCoreError for an old or foreign one."""
        if not isinstance(d, dict):
            raise GalaxyCoreError(f"{source} is not a classifier checkpoint (it holds a {type(d).__name__}).")
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise GalaxyCoreError(
                f"{source} is not a classifier checkpoint of this tool (it lacks {', '.join(missing)}); "
                "make one with `python -m training.classifier.train`.")
        if d["format"] != FORMAT:
            raise GalaxyCoreError(
                f"{source} has checkpoint format {d['format']!r}; this version reads {FORMAT!r}.")
        try:
            known = {f.name for f in fields(cls)}
            values = {k: v for k, v in d.items() if k in known}
            values["framing"] = FramingSettings(**d["framing"])
            values["class_names"] = tuple(d["class_names"])
            values["mean"], values["std"] = tuple(d["mean"]), tuple(d["std"])
            values["input_size"] = int(d["input_size"])
            if d.get("accuracy_grid"):
                values["accuracy_grid"] = AccuracyGrid.from_dict(d["accuracy_grid"])
            for key in ("recipe", "metrics"):
                values[key] = dict(d.get(key) or {})
            values["history"] = list(d.get("history") or [])
            values["adaptation"] = dict(d["adaptation"]) if d.get("adaptation") else None
            return cls(**values)
        except GalaxyCoreError:
            raise
        except (TypeError, ValueError, KeyError) as err:
            raise GalaxyCoreError(f"{source} is a damaged classifier checkpoint ({err}).") from err


def read(path: str | Path) -> ClassifierCheckpoint:
    """Load and validate a checkpoint (``weights_only=True``: no code in the file is run)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise GalaxyCoreError(f"Classifier weights not found at {str(path)!r}.")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, KeyError, pickle.UnpicklingError) as err:
        raise GalaxyCoreError(f"{path.name} is not a readable classifier checkpoint (torch cannot load it: "
                              f"{type(err).__name__}).") from err
    return ClassifierCheckpoint.from_dict(d, source=f"'{path.name}'")


def write(ckpt: ClassifierCheckpoint, path: str | Path) -> Path:
    """``torch.save`` through a temporary file, so a killed run never leaves half a checkpoint."""
    import torch

    path = Path(path)
    with atomic_write(path) as fh:
        torch.save(ckpt.to_dict(), fh)
    return path


def settings_json(ckpt: ClassifierCheckpoint) -> str:
    """The checkpoint without its weights and training curve, as JSON (see :func:`from_settings_json`)."""
    d = ckpt.to_dict()
    del d["state_dict"], d["history"]
    return json.dumps(d)


def from_settings_json(text: str, *, source: str = "the checkpoint's settings") -> ClassifierCheckpoint:
    """A checkpoint with no weights (an empty ``state_dict``) from :func:`settings_json`'s text,
    validated as :func:`read` validates a file.

    Raises:
        GalaxyCoreError: text that is not such JSON.
    """
    try:
        d = json.loads(text)
    except (TypeError, ValueError) as err:
        raise GalaxyCoreError(f"{source} is not the JSON of a classifier checkpoint ({err}).") from err
    if isinstance(d, dict):
        d = {**d, "state_dict": {}}
    return ClassifierCheckpoint.from_dict(d, source=source)


def to_bytes(ckpt: ClassifierCheckpoint) -> bytes:
    """The file :func:`write` would write, as bytes (for a download)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(ckpt.to_dict(), buf)
    return buf.getvalue()


def from_bytes(data: bytes, *, name: str = "the weights file") -> ClassifierCheckpoint:
    """A checkpoint from a file's bytes (an upload), validated as :func:`read` validates a file.

    Raises:
        GalaxyCoreError: bytes that are not a classifier checkpoint of this tool.
    """
    import io

    import torch

    try:
        d = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # any bytes may be uploaded; torch's loader raises many kinds
        raise GalaxyCoreError(f"{name} is not a readable classifier checkpoint (torch cannot load it: "
                              f"{type(err).__name__}).") from err
    return ClassifierCheckpoint.from_dict(d, source=f"'{name}'")
