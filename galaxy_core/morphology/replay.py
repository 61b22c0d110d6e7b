"""What adaptation replays of the original training, and where forgetting is measured.

A user's machine has no training images, and they may not ship.  What ships
is derived from them (``weights/classifier_replay.npz``, made by
``training/classifier/replay.py``): the shipped network's 512-d penultimate
features (fp16) of a class-balanced sample of its training split, and of its
whole validation split (plain, and averaged over the 8 dihedral views as TTA
sees them), with their labels.  With the network's body frozen, these are all
that training its last layer (the head) and measuring what it forgot need.

The features belong to one body: the file stores the SHA-256 of the body's
weights (every tensor but the head's), and :func:`load_replay` refuses it for
a network whose body differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galaxy_core import shipped
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import CLASS_NAMES

#: The shipped replay file.
REPLAY_FEATURES = shipped.WEIGHTS_DIR / "classifier_replay.npz"
#: Format tag of the file.
REPLAY_FORMAT = "galaxy_core.classifier_replay/1"
#: State-dict prefix of the head (the last layer); every other tensor is the body.
HEAD_PREFIX = "fc."


@dataclass(frozen=True, eq=False)
class ReplaySet:
    """Penultimate features of the original data (float32 in memory).

    Attributes:
        features, labels: a class-balanced sample of the training split, (M, 512) and (M,).
        val_features, val_labels: the validation split, (V, 512) and (V,), one plain view each.
        val_features_tta: the same averaged over the 8 dihedral views (TTA), (V, 512).
        body_sha256: SHA-256 of the body weights the features were computed with.
        meta: how the file was made (command, counts, seeds).
    """

    features: np.ndarray
    labels: np.ndarray
    val_features: np.ndarray
    val_labels: np.ndarray
    val_features_tta: np.ndarray
    body_sha256: str
    meta: dict


def body_sha256(state_dict: dict) -> str:
    """SHA-256 of a state dict's body: every tensor but the head's, by name, as fp16 bytes."""
    digest = hashlib.sha256()
    for name in sorted(k for k in state_dict if not k.startswith(HEAD_PREFIX)):
        t = state_dict[name]
        t = t.half() if t.is_floating_point() else t
        digest.update(name.encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_replay(path: str | Path, replay: ReplaySet) -> Path:
    """Write ``replay`` as a compressed .npz (features in fp16) through a temporary file."""
    from galaxy_core.io.atomic import atomic_write

    meta = {"format": REPLAY_FORMAT, "body_sha256": replay.body_sha256,
            "class_names": list(CLASS_NAMES), **replay.meta}
    arrays = {"features": replay.features.astype(np.float16), "labels": replay.labels.astype(np.int8),
              "val_features": replay.val_features.astype(np.float16),
              "val_labels": replay.val_labels.astype(np.int8),
              "val_features_tta": replay.val_features_tta.astype(np.float16)}
    with atomic_write(path) as fh:
        np.savez_compressed(fh, meta=np.array(json.dumps(meta)), **arrays)
    return Path(path)


def load_replay(path: str | Path | None = None, *, body: str | None = None) -> ReplaySet:
    """The replay features (default: the shipped file), checked against a body's SHA-256.

    Raises:
        GalaxyCoreError: a missing or foreign file, or features of another network's body.
    """
    path = Path(path) if path is not None else REPLAY_FEATURES
    if not path.is_file():
        raise GalaxyCoreError(f"The classifier's replay features are missing ({path}); "
                              "adaptation needs them (they ship in weights/).")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("features", "labels", "val_features", "val_labels",
                                        "val_features_tta")}
    except (OSError, ValueError, KeyError) as err:
        raise GalaxyCoreError(f"{path.name} is not a replay feature file ({err}).") from err
    if meta.get("format") != REPLAY_FORMAT or meta.get("class_names") != list(CLASS_NAMES):
        raise GalaxyCoreError(f"{path.name} is not a replay feature file of this version.")
    if body is not None and meta["body_sha256"] != body:
        raise GalaxyCoreError(
            f"{path.name} holds features of another network (body {meta['body_sha256'][:12]}, "
            f"these weights {body[:12]}): only weights adapted from the shipped classifier can be adapted.")
    return ReplaySet(features=arrays["features"].astype(np.float32), labels=arrays["labels"].astype(int),
                     val_features=arrays["val_features"].astype(np.float32),
                     val_labels=arrays["val_labels"].astype(int),
                     val_features_tta=arrays["val_features_tta"].astype(np.float32),
                     body_sha256=meta["body_sha256"], meta=meta)
