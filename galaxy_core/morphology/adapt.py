"""Teach the classifier a user's galaxies: fine-tune its last layer on their labels, on the CPU.

    crops (framed as inference frames them) -> the frozen body's 512-d features
    of each crop's 8 dihedral views (+ train-preset views) -> k-fold cross-validation
    of a head fitted on the user's features + replayed original features ->
    the final head on every label -> temperatures -> a new checkpoint with its card

Only the head (the last, 512 x 6 layer) is trained: measured on simulated users
(``bench/bench_adapt.py``) it gained as much as fine-tuning the last block, in
well under a second per fit instead of minutes, and its replay needs only the
shipped 512-d features (:mod:`galaxy_core.morphology.replay`), so forgetting
is measured on the whole validation split on any machine.  The head starts
from the shipped one and is pulled towards it (an L2 prior), and every fit
mixes the user's labels with a class-balanced replay of the original training
split, so classes the user never labelled are kept.

Figures are honest: every crop is scored by a head fitted without it
(``folds``-fold cross-validation, all views of an object in one fold), before
(the base head) and after, per class with the count; the validation split's
figures say what the new head forgot.  The base weights file is never written.

>>> result = adapt(crops, progress=lambda f, msg: print(f"{f:.0%} {msg}"))   # doctest: +SKIP
>>> print(result.summary())                                                  # doctest: +SKIP
>>> result.save("my_field.pt")                                               # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from galaxy_core import shipped
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.labelled import LabelledCrops
from galaxy_core.morphology.onnx_network import file_sha256
from galaxy_core.morphology.replay import HEAD_PREFIX, ReplaySet, body_sha256, load_replay
from galaxy_core.types import CLASS_NAMES

Progress = Callable[[float, str], None]
#: Fewest labelled objects adaptation accepts.
MIN_LABELS = 20
#: Width of the body's penultimate features (ResNet18).
FEATURES = 512


@dataclass(frozen=True)
class AdaptSettings:
    """How the head is fitted.

    Attributes:
        folds: cross-validation folds (each object scored once, by a head fitted without it).
        augment_views: train-preset views per crop (:func:`~galaxy_core.morphology.transforms.train_transforms`,
            without the far-away step), besides its 8 dihedral views.
        user_weight: the user's share of the loss (the rest is the replayed training sample), 0..1.
        prior: L2 pull of the head towards the base head (per squared weight).
        label_smoothing: as in training.
        balanced: weigh the user's classes equally (each class's labels share the same part of
            the user's loss) instead of by their counts.  Measured worse on both accuracy and
            balanced accuracy (``bench_adapt.py --balanced``: a few labels of a rare class
            weigh too much); kept for that bench.
        iterations: L-BFGS iterations per fit.
        seed: seed of the folds and the augmentation draws.
        threads: torch threads.
    """

    folds: int = 5
    augment_views: int = 4
    user_weight: float = 0.5
    prior: float = 3e-2
    label_smoothing: float = 0.05
    balanced: bool = False
    iterations: int = 100
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.folds < 2 or self.augment_views < 0 or not 0 < self.user_weight <= 1 or self.prior < 0:
            raise GalaxyCoreError("Adaptation needs folds >= 2, augment_views >= 0, 0 < user_weight <= 1 "
                                  "and prior >= 0.")


@dataclass(frozen=True)
class Scores:
    """Accuracy of one set of predictions.

    Attributes:
        n: objects scored.
        accuracy: share right.
        balanced_accuracy: mean recall over the classes present.
        counts, correct: per class (CLASS_NAMES order): objects of that class, and how many were right.
    """

    n: int
    accuracy: float
    balanced_accuracy: float
    counts: tuple[int, ...]
    correct: tuple[int, ...]

    @classmethod
    def of(cls, logits: np.ndarray, labels: np.ndarray) -> Scores:
        pred = np.asarray(logits).argmax(axis=1)
        k = len(CLASS_NAMES)
        counts = np.bincount(labels, minlength=k)
        correct = np.bincount(labels[pred == labels], minlength=k)
        present = counts > 0
        return cls(int(len(labels)), float((pred == labels).mean()) if len(labels) else float("nan"),
                   float(np.mean(correct[present] / counts[present])) if present.any() else float("nan"),
                   tuple(int(c) for c in counts), tuple(int(c) for c in correct))

    def recall(self, cls_name: str) -> float:
        i = CLASS_NAMES.index(cls_name)
        return self.correct[i] / self.counts[i] if self.counts[i] else float("nan")


@dataclass(frozen=True)
class Features:
    """The frozen body's penultimate features of the labelled crops (float32).

    Attributes:
        dihedral: (N, 8, 512), the 8 rotations and flips (view 0 is the crop as it is).
        augmented: (N, A, 512), train-preset views.
    """

    dihedral: np.ndarray
    augmented: np.ndarray

    @property
    def plain(self) -> np.ndarray:
        """(N, 512): each crop as it is (how fields are classified)."""
        return self.dihedral[:, 0]

    @property
    def tta(self) -> np.ndarray:
        """(N, 512): the mean over the dihedral views (a linear head's TTA)."""
        return self.dihedral.mean(axis=1)

    def subset(self, rows: np.ndarray) -> Features:
        """The features of some crops (row indices or a boolean mask)."""
        return Features(self.dihedral[rows], self.augmented[rows])

    def training(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), V, 512): every view of those crops."""
        return np.concatenate([self.dihedral[rows], self.augmented[rows]], axis=1)


@dataclass(frozen=True, eq=False)
class Head:
    """The network's last layer: logits = features @ weight.T + bias.

    Attributes:
        weight: float32 (6, 512).
        bias: float32 (6,).
    """

    weight: np.ndarray
    bias: np.ndarray

    @classmethod
    def of(cls, state_dict: dict) -> Head:
        """The head of a state dict (``fc.weight``, ``fc.bias``)."""
        return cls(state_dict[f"{HEAD_PREFIX}weight"].float().numpy().copy(),
                   state_dict[f"{HEAD_PREFIX}bias"].float().numpy().copy())

    def logits(self, features: np.ndarray) -> np.ndarray:
        """float64 (N, 6) logits of (N, 512) features."""
        return np.asarray(features, np.float64) @ self.weight.T.astype(np.float64) + self.bias


def fit_head(base: Head, x: np.ndarray, y: np.ndarray, replay: ReplaySet,
             settings: AdaptSettings) -> Head:
    """A head fitted to features ``x`` (N, 512) labelled ``y``, mixed with the replay sample.

    Loss: ``user_weight`` x cross-entropy on (x, y) + (1 - ``user_weight``) x
    cross-entropy on the replay sample + ``prior`` x ||W - W_base||^2, minimised by
    L-BFGS from the base head.
    """
    import torch
    import torch.nn.functional as F

    w0, b0 = torch.from_numpy(base.weight), torch.from_numpy(base.bias)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    xu, yu = torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64))
    xr, yr = torch.from_numpy(replay.features), torch.from_numpy(replay.labels.astype(np.int64))
    a, ls = settings.user_weight, settings.label_smoothing
    weight = torch.from_numpy(class_balance(y)) if settings.balanced else None
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=settings.iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = a * F.cross_entropy(xu @ w.T + b, yu, weight=weight, label_smoothing=ls)
        if a < 1:
            loss = loss + (1 - a) * F.cross_entropy(xr @ w.T + b, yr, label_smoothing=ls)
        loss = loss + settings.prior * ((w - w0) ** 2).sum()
        loss.backward()
        return loss

    with _threads(1):  # tiny ops: more threads only wait on each other
        opt.step(closure)
    return Head(w.detach().numpy().copy(), b.detach().numpy().copy())


def class_balance(y: np.ndarray) -> np.ndarray:
    """float32 (6,) class weights that give each class present the same total weight (mean 1)."""
    counts = np.bincount(np.asarray(y, int), minlength=len(CLASS_NAMES)).astype(np.float32)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0).astype(np.float32)
    return w * counts.sum() / (w * counts).sum()


def fold_of(keys: tuple[str, ...], labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """int (N,) fold of each object, stratified by class; equal keys share a fold."""
    first = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    rng = np.random.default_rng(seed)
    fold_of_key, start = {}, int(rng.integers(folds))
    for c in np.unique(labels):
        members = [k for k, i in first.items() if labels[i] == c]
        for j, k in enumerate(rng.permutation(members)):
            fold_of_key[k] = (start + j) % folds
        start = (start + len(members)) % folds
    return np.array([fold_of_key[k] for k in keys], dtype=int)


def cross_validate(features: Features, labels: np.ndarray, folds: np.ndarray, base: Head,
                   replay: ReplaySet, settings: AdaptSettings,
                   progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits (plain, TTA), each object's from a head fitted without its fold."""
    plain = np.full((len(labels), len(CLASS_NAMES)), np.nan)
    tta = plain.copy()
    for k in range(int(folds.max()) + 1):
        test, train = folds == k, folds != k
        x = features.training(np.flatnonzero(train))
        y = np.repeat(labels[train], x.shape[1])
        head = fit_head(base, x.reshape(-1, x.shape[-1]), y, replay, settings)
        plain[test], tta[test] = head.logits(features.plain[test]), head.logits(features.tta[test])
        if progress:
            progress((k + 1) / (folds.max() + 1), f"Cross-validation: fold {k + 1} of {folds.max() + 1}")
    return plain, tta


def body_network(ckpt: checkpoint.ClassifierCheckpoint, threads: int = 2):
    """A callable: normalised float32 (N, 3, S, S) batch -> (N, 512) penultimate features.

    Through ONNX Runtime (on ``threads`` threads) when installed, as the classifier runs,
    else PyTorch (on torch's threads).
    """
    import torch

    from galaxy_core.morphology.classifier import network_of, torch_network
    from galaxy_core.morphology.onnx_network import OnnxNetwork, onnx_available

    model = network_of(ckpt)
    body = torch.nn.Sequential(*list(model.children())[:-1], torch.nn.Flatten(1)).eval()
    if onnx_available():
        try:
            return OnnxNetwork.export(body, input_shape=(3, ckpt.input_size, ckpt.input_size),
                                      threads=threads)
        except GalaxyCoreError:
            pass

    network = torch_network(body)

    def run(x):
        with _threads(threads):
            return network(x)
    return run


def crop_features(ckpt: checkpoint.ClassifierCheckpoint, crops: np.ndarray, *, augment_views: int,
                  dihedral: bool = True, seed: int = 0, progress: Progress | None = None,
                  batch: int = 32, threads: int = 2) -> Features:
    """The body's features of framed crops uint8 (N, S, S, 3): their 8 dihedral views (only
    the crop as it is when ``dihedral`` is False) and ``augment_views`` train-preset views.

    The network runs on ``threads`` threads; the augmentations on one (small torch ops on
    more threads than free cores were 10x slower on a busy 2-core machine).
    """
    import torch

    from galaxy_core.morphology.classifier import dihedral_views, network_input
    from galaxy_core.morphology.transforms import to_tensor_u8, train_transforms

    net = body_network(ckpt, threads)
    mean, std = (np.asarray(v, np.float32).reshape(1, 3, 1, 1) for v in (ckpt.mean, ckpt.std))
    augment = train_transforms(ckpt.input_size, mean=ckpt.mean, std=ckpt.std) if augment_views else None
    turned, augmented = [], []
    with torch.random.fork_rng(), torch.inference_mode(), _threads(1):
        torch.manual_seed(seed)
        for start in range(0, len(crops), batch):
            chunk = crops[start:start + batch]
            x = network_input(chunk, mean, std)
            turned.append(_views_features(net, dihedral_views(x) if dihedral else [x]))
            augmented.append(_views_features(net, [torch.stack([augment(to_tensor_u8(c)) for c in chunk])
                                                   for _ in range(augment_views)], len(chunk)))
            if progress:
                done = min(start + batch, len(crops))
                progress(done / len(crops), f"Features of {done} of {len(crops)} labelled objects")
    return Features(np.concatenate(turned), np.concatenate(augmented))


def _views_features(net, views: list, n: int = 0) -> np.ndarray:
    """float32 (N, len(views), 512): the network's features of each view of a batch."""
    if not views:
        return np.zeros((n, 0, FEATURES), np.float32)
    return np.stack([np.asarray(net(v), dtype=np.float32) for v in views], axis=1)


def fit_temperature_on(sets: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The temperature minimising the mean of the sets' NLLs (each (logits, labels) set weighs the same)."""
    from scipy.optimize import minimize_scalar

    from galaxy_core.morphology.calibration import nll

    sets = [(z, y) for z, y in sets if len(y)]
    res = minimize_scalar(lambda lt: np.mean([nll(z, y, np.exp(lt)) for z, y in sets]),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


@dataclass(frozen=True, eq=False)
class AdaptResult:
    """An adapted classifier and how it scores, before anything is saved.

    Attributes:
        checkpoint: the adapted weights (the base's body, a new head and temperatures) with their card.
        cv_before, cv_after: the user's labels, each object scored by the base head and by a head
            fitted without its fold (no TTA: as fields are classified).
        cv_before_tta, cv_after_tta: the same with TTA (as ``classify`` runs by default).
        val_before, val_after: the original validation split, base and adapted head (no TTA).
        labels: how many objects of each class taught it (CLASS_NAMES order).
        seconds: wall time of the adaptation, s.
        cv_gain_ci: half-width of the 95 % interval of the cross-validated accuracy gain
            (paired over the objects, no TTA): with few labels it is wide.
    """

    checkpoint: checkpoint.ClassifierCheckpoint
    cv_before: Scores
    cv_after: Scores
    cv_before_tta: Scores
    cv_after_tta: Scores
    val_before: Scores
    val_after: Scores
    labels: tuple[int, ...]
    seconds: float
    cv_gain_ci: float = float("nan")

    @property
    def card(self) -> dict:
        """The card stored with the weights (``checkpoint.adaptation``)."""
        return dict(self.checkpoint.adaptation or {})

    def summary(self) -> str:
        """The cross-validated before/after figures, per class, as lines of text."""
        card = self.card
        lines = [f"adapted {card['base']['file']} (sha256 {card['base']['sha256'][:16]}) on "
                 f"{sum(self.labels)} labels in {self.seconds:.0f} s",
                 f"your labels, {card['settings']['folds']}-fold cross-validated (each object scored "
                 "by a head that never saw it), no TTA:",
                 f"  {'class':<14s} {'n':>4s} {'before':>7s} {'after':>7s}"]
        for i, name in enumerate(CLASS_NAMES):
            if self.cv_before.counts[i]:
                lines.append(f"  {name:<14s} {self.cv_before.counts[i]:4d} {self.cv_before.recall(name):7.3f} "
                             f"{self.cv_after.recall(name):7.3f}")
        lines += [_line("all", self.cv_before, self.cv_after, indent=2, ci=self.cv_gain_ci),
                  _line("with TTA", self.cv_before_tta, self.cv_after_tta, indent=2),
                  _line(f"validation split ({self.val_before.n} objects of the original data)",
                        self.val_before, self.val_after)]
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write the adapted weights (never over the shipped or the base weights)."""
        path = Path(path)
        protected = {shipped.CLASSIFIER_WEIGHTS.resolve(), Path(self.card["base"]["path"]).resolve()}
        if path.resolve() in protected:
            raise GalaxyCoreError(f"{path} holds the base weights; save the adapted ones to another file.")
        return checkpoint.write(self.checkpoint, path)

    def to_bytes(self) -> bytes:
        """The adapted weights file as bytes (an app's download); load it with ``Classifier.load``."""
        return checkpoint.to_bytes(self.checkpoint)


def _line(name: str, before: Scores, after: Scores, indent: int = 0, ci: float | None = None) -> str:
    gain = f"{after.accuracy - before.accuracy:+.3f}" + (f" +- {ci:.3f} (95 %)" if ci is not None else "")
    return (f"{' ' * indent}{name}: accuracy {before.accuracy:.3f} -> {after.accuracy:.3f} "
            f"({gain}), balanced {before.balanced_accuracy:.3f} -> "
            f"{after.balanced_accuracy:.3f}, n = {before.n}")


def unique_objects(crops: LabelledCrops) -> LabelledCrops:
    """One row per object (repeated rows of one key dropped).

    Raises:
        GalaxyCoreError: one object labelled as two classes, too few labels, one class only.
    """
    first: dict[str, int] = {}
    for i, (k, y) in enumerate(zip(crops.keys, crops.labels, strict=True)):
        if k in first and crops.labels[first[k]] != y:
            raise GalaxyCoreError(f"{k} is labelled both {CLASS_NAMES[crops.labels[first[k]]]} and "
                                  f"{CLASS_NAMES[y]}; keep one label per object.")
        first.setdefault(k, i)
    keep = np.array(sorted(first.values()), dtype=int)
    if len(keep) < MIN_LABELS:
        raise GalaxyCoreError(f"Adaptation needs at least {MIN_LABELS} labelled objects; got {len(keep)}.")
    classes = np.unique(crops.labels[keep])
    if len(classes) < 2:
        raise GalaxyCoreError(f"All {len(keep)} labels are {CLASS_NAMES[classes[0]]}: label objects "
                              "of at least two classes, or the head learns only to say that one.")
    return LabelledCrops(crops.crops[keep], crops.labels[keep], tuple(crops.keys[i] for i in keep),
                         crops.base_probs[keep])


def adapt(crops: LabelledCrops, *, base: str | Path | None = None, replay: ReplaySet | None = None,
          settings: AdaptSettings | None = None, progress: Progress | None = None) -> AdaptResult:
    """Fit a new head to the labelled crops, cross-validate it, and make its checkpoint.

    Args:
        crops: the labelled objects, framed (:mod:`galaxy_core.morphology.labelled`).
        base: the weights to adapt (default: the shipped classifier); an adapted file works
            too (its body is the shipped one).  Never written.
        replay: the original data's features (default: the shipped file, checked against the body).
        settings: see :class:`AdaptSettings`.
        progress: ``progress(fraction, message)``, fraction 0..1.

    Raises:
        GalaxyCoreError: too few labels, one class only, an object labelled twice differently,
            base weights that are not a classifier checkpoint, features of another body.
    """
    t0 = time.perf_counter()
    settings = settings or AdaptSettings()
    base_path = Path(base) if base is not None else shipped.CLASSIFIER_WEIGHTS
    crops = unique_objects(crops)
    ckpt = checkpoint.read(base_path)
    if tuple(ckpt.class_names) != CLASS_NAMES:
        raise GalaxyCoreError(f"{base_path.name} does not classify into the six classes of this tool.")
    body = body_sha256(ckpt.state_dict)
    replay = replay if replay is not None else load_replay(body=body)
    if replay.body_sha256 != body:
        raise GalaxyCoreError("The replay features were computed with another network's body.")
    report = _stages(progress)
    feats = crop_features(ckpt, crops.crops, augment_views=settings.augment_views, seed=settings.seed,
                          progress=report(0.0, 0.8), threads=settings.threads)
    result = fit_adapted(ckpt, base_path, crops, feats, replay, settings, progress=report(0.8, 1.0),
                         started=t0)
    if progress:
        progress(1.0, f"Adapted: cross-validated accuracy {result.cv_before.accuracy:.3f} -> "
                      f"{result.cv_after.accuracy:.3f}")
    return result


def fit_adapted(ckpt: checkpoint.ClassifierCheckpoint, base_path: Path, crops: LabelledCrops,
                feats: Features, replay: ReplaySet, settings: AdaptSettings, *,
                progress: Progress | None = None, started: float | None = None) -> AdaptResult:
    """Cross-validate, fit the final head on every label, and make the result (features given).

    ``crops`` must hold one row per object (:func:`unique_objects`), in ``feats``' order.
    """
    t0 = time.perf_counter() if started is None else started
    base_head = Head.of(ckpt.state_dict)
    folds = fold_of(crops.keys, crops.labels, min(settings.folds, len(crops)), settings.seed)
    with _threads(1):
        oof = cross_validate(feats, crops.labels, folds, base_head, replay, settings,
                             _stages(progress)(0.0, 0.85))
        x = feats.training(np.arange(len(crops)))
        head = fit_head(base_head, x.reshape(-1, x.shape[-1]), np.repeat(crops.labels, x.shape[1]),
                        replay, settings)
    return _result(ckpt, base_path, crops, feats, base_head, head, oof, replay, settings, t0)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """torch's CPU threads set to ``n`` for the block."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stages(progress: Progress | None) -> Callable[[float, float], Progress | None]:
    """``report(lo, hi)``: a progress callback mapping a stage's 0..1 onto lo..hi of the whole."""
    def report(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda f, msg: progress(lo + (hi - lo) * float(f), msg)
    return report


def _result(ckpt, base_path: Path, crops: LabelledCrops, feats: Features, base_head: Head, head: Head,
            oof: tuple[np.ndarray, np.ndarray], replay: ReplaySet, settings: AdaptSettings,
            t0: float) -> AdaptResult:
    """Scores, temperatures and the adapted checkpoint with its card."""
    y, yv = crops.labels, replay.val_labels
    t_plain = fit_temperature_on([(oof[0], y), (head.logits(replay.val_features), yv)])
    t_tta = fit_temperature_on([(oof[1], y), (head.logits(replay.val_features_tta), yv)])
    scores = {
        "cv_before": Scores.of(base_head.logits(feats.plain), y), "cv_after": Scores.of(oof[0], y),
        "cv_before_tta": Scores.of(base_head.logits(feats.tta), y), "cv_after_tta": Scores.of(oof[1], y),
        "val_before": Scores.of(base_head.logits(replay.val_features), yv),
        "val_after": Scores.of(head.logits(replay.val_features), yv),
    }
    labels = tuple(int(c) for c in np.bincount(y, minlength=len(CLASS_NAMES)))
    ci = gain_interval(base_head.logits(feats.plain), oof[0], y)
    seconds = time.perf_counter() - t0
    card = _card(base_path, crops, settings, scores, (t_plain, t_tta), seconds)
    card["cv_gain_ci95"] = ci
    state = dict(ckpt.state_dict)
    state[f"{HEAD_PREFIX}weight"] = _as_stored(head.weight, ckpt.state_dict[f"{HEAD_PREFIX}weight"])
    state[f"{HEAD_PREFIX}bias"] = _as_stored(head.bias, ckpt.state_dict[f"{HEAD_PREFIX}bias"])
    adapted = replace(ckpt, state_dict=state, temperature=t_plain, temperature_tta=t_tta, adaptation=card)
    return AdaptResult(checkpoint=adapted, labels=labels, seconds=seconds, cv_gain_ci=ci, **scores)


def gain_interval(before: np.ndarray, after: np.ndarray, labels: np.ndarray) -> float:
    """Half-width of the 95 % interval of the paired accuracy gain (adjusted Wald: one
    pseudo-object gained and one lost, so that a gain on every object is not called certain)."""
    right_before, right_after = before.argmax(1) == labels, after.argmax(1) == labels
    gained, lost = int((right_after & ~right_before).sum()), int((right_before & ~right_after).sum())
    n = len(labels) + 2
    shift = (gained - lost) / n
    return float(1.96 * np.sqrt(max((gained + lost + 2) / n - shift ** 2, 0.0) / n))


def _as_stored(values: np.ndarray, like):
    """A numpy array as a tensor of the stored tensor's dtype (fp16 in shipped files)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(values)).to(like.dtype)


def _card(base_path: Path, crops: LabelledCrops, settings: AdaptSettings, scores: dict[str, Scores],
          temperatures: tuple[float, float], seconds: float) -> dict:
    """What the adapted weights carry about how they were made (plain types only)."""
    from datetime import UTC, datetime

    from galaxy_core import __version__

    return {
        "base": {"file": base_path.name, "path": str(base_path.resolve()), "sha256": file_sha256(base_path)},
        "trained": "head (fc) only; body frozen",
        "labels": [[k, CLASS_NAMES[int(y)]] for k, y in zip(crops.keys, crops.labels, strict=True)],
        "counts": {c: int((crops.labels == i).sum()) for i, c in enumerate(CLASS_NAMES)},
        "settings": asdict(settings),
        "temperature": temperatures[0], "temperature_tta": temperatures[1],
        "figures": {k: asdict(v) for k, v in scores.items()},
        "note": "accuracy_grid, min_extent_px and min_peak_snr are the base weights' (not re-measured)",
        "seconds": float(seconds), "software": f"galaxy_core {__version__}",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    }
