"""Train the ResNet18 morphology classifier (torchvision-reference style).

    python -m training.classifier.train --data ../shared/data --out weights/classifier.pt
    python -m training.classifier.train --kaggle-dir KAGGLE --out weights/classifier.pt

Every labelled image is scale-normalised once (:mod:`galaxy_core.morphology.framing`) into
a uint8 cache of ``cache_size`` px (``cache/`` by default, git-ignored) and
augmented from there, since decoding 424 px JPEGs every epoch is too slow on
a CPU.  The best checkpoint (by validation accuracy + balanced accuracy) is
written after every epoch that improves on it, with its temperature fitted on
the validation logits.  Sets without a six-class label join through partial
labels (:class:`PartialLabelLoss`): the grey ground-based galaxies as "not a
star" (``--not-star-galaxies``) and gz2_spiral as "spiral or not" (``--gz2-two-way``).

``--write-pack`` stores the framed images in one portable file
(:mod:`training.classifier.pack`) and ``--pack`` trains from it, so a lent
GPU machine can train without the data folder (``--device cuda --workers N
--amp``; ``scripts/train_classifier_gpu.sh``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.atomic import atomic_write
from galaxy_core.io.picture import read_rgb
from galaxy_core.morphology import calibration, checkpoint
from galaxy_core.morphology.checkpoint import ClassifierCheckpoint
from galaxy_core.morphology.classifier import float_state_dict
from galaxy_core.morphology.framing import FramingSettings, frame_crop, measure_extent
from galaxy_core.morphology.resnet import resnet18
from galaxy_core.morphology.transforms import eval_transforms, no_aug_transforms, train_transforms
from galaxy_core.types import CLASS_NAMES
from training.classifier.data import (
    SPLIT_SEED,
    grey_galaxy_items,
    gz2_items,
    kaggle_items,
    labelled_items,
)
from training.classifier.pack import PACK_COLUMNS, FramedPack, read_pack, write_pack

#: Side of the window cut around an object in a field before framing, px.
FIELD_WINDOW_PX = 64
#: Partial labels: negative codes for items known only to lie in a set of classes.
#: Grey ground-based galaxies without morphology are "not Star/Artifact".
NOT_STAR = -1
#: gz2_spiral ``spirals/``: Spiral or Spiral_Barred.
SPIRAL_ANY = -2
#: gz2_spiral ``non_spirals/``: neither Spiral nor Spiral_Barred.
NOT_SPIRAL = -3
#: The classes each partial-label code allows.
PARTIAL_LABELS: dict[int, tuple[str, ...]] = {
    NOT_STAR: tuple(c for c in CLASS_NAMES if c != "Star/Artifact"),
    SPIRAL_ANY: ("Spiral", "Spiral_Barred"),
    NOT_SPIRAL: tuple(c for c in CLASS_NAMES if c not in ("Spiral", "Spiral_Barred")),
}


def build_model(num_classes: int = len(CLASS_NAMES)) -> nn.Module:
    """ResNet18 as torchvision builds it (:mod:`galaxy_core.morphology.resnet`), random init
    (nothing downloads), ``num_classes`` outputs."""
    return resnet18(num_classes=num_classes)


def frame_item(path: str, x_px: float, y_px: float, size: int, settings: FramingSettings) -> np.ndarray:
    """One item scale-normalised to uint8 (size, size, 3); field items are cut around (x_px, y_px)."""
    img = read_rgb(path)
    if np.isfinite(x_px):
        img = frame_crop(img, (x_px, y_px), FIELD_WINDOW_PX, FIELD_WINDOW_PX,
                         settings=FramingSettings(fill=1.0, min_side_px=2.0, max_shrink=1.0))
    ext = measure_extent(img, settings=settings)
    return frame_crop(img, (ext.x, ext.y), ext.extent_px, size, settings=settings)


def build_cache(items: pd.DataFrame, size: int, settings: FramingSettings, cache_dir: Path,
                *, log=print) -> np.ndarray:
    """uint8 (N, size, size, 3) framed images of ``items`` (rows in order), cached as .npy."""
    key = hashlib.sha1(json.dumps([list(items["path"]), list(items["x_px"].fillna(-1)),
                                   size, settings.as_dict()]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"framed_{size}_{key}.npy"
    if path.exists():
        log(f"cache: loading {path}")
        return np.load(path, mmap_mode="r")
    out = np.zeros((len(items), size, size, 3), np.uint8)
    t0 = time.time()
    for i, r in enumerate(items.itertuples()):
        out[i] = frame_item(r.path, r.x_px, r.y_px, size, settings)
        if (i + 1) % 1000 == 0:
            log(f"cache: {i + 1}/{len(items)} framed, {time.time() - t0:.0f} s")
    with atomic_write(path) as fh:
        np.save(fh, out)
    log(f"cache: wrote {path} ({len(items)} items, {time.time() - t0:.0f} s)")
    return out


class FramedDataset(Dataset):
    """Cached framed images with labels; ``transform`` maps uint8 (3, H, W) to the network input."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, np.asarray(labels, dtype=np.int64), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = torch.from_numpy(np.ascontiguousarray(self.images[i])).permute(2, 0, 1)
        return self.transform(img), int(self.labels[i])

    def __repr__(self) -> str:
        return f"FramedDataset(n={len(self)}, transform={self.transform!r})"


def class_weights(labels: np.ndarray, power: float, n_classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Per-class weights ``(count / max count) ** -power`` (0 = none, 1 = fully balanced)."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    w = np.where(counts > 0, (np.maximum(counts, 1) / counts.max()) ** -power, 0.0)
    return w / w[counts > 0].min()


class TimeCosineLR:
    """Learning rate by elapsed wall time: linear warm-up, then cosine decay to 0 at ``budget_s``.

    On a shared CPU the images/s vary, so a schedule in steps cannot promise to
    finish in time; this one always ends annealed when the budget is spent.
    """

    def __init__(self, optimizer, *, max_lr: float, budget_s: float, warmup: float = 0.05) -> None:
        self.optimizer, self.max_lr, self.budget_s, self.warmup = optimizer, max_lr, budget_s, warmup
        self.t0 = time.time()
        self.step()

    def fraction(self) -> float:
        return (time.time() - self.t0) / self.budget_s

    def step(self) -> None:
        f = min(self.fraction(), 1.0)
        lr = self.max_lr * (f / self.warmup if f < self.warmup else
                            0.5 * (1 + math.cos(math.pi * (f - self.warmup) / (1 - self.warmup))))
        for g in self.optimizer.param_groups:
            g["lr"] = max(lr, 1e-3 * self.max_lr * (f < 1.0))

    def __repr__(self) -> str:
        return f"TimeCosineLR(max_lr={self.max_lr}, budget_s={self.budget_s}, warmup={self.warmup})"


class PartialLabelLoss(nn.Module):
    """Cross-entropy for labelled items; ``-log(sum of p over the allowed classes)`` for partial ones.

    A partial label (a negative code of ``partial``) says only which set of
    classes an item lies in: the grey ground-based galaxy cutouts are certainly
    not stars (:data:`NOT_STAR`), and the gz2_spiral images are spiral or not
    (:data:`SPIRAL_ANY`, :data:`NOT_SPIRAL`). The term moves probability into
    the allowed set without inventing a class within it.
    """

    def __init__(self, partial: dict[int, tuple[str, ...]] | None = None, **ce_kwargs) -> None:
        super().__init__()
        partial = PARTIAL_LABELS if partial is None else partial
        mask = torch.zeros((max(-c for c in partial), len(CLASS_NAMES)), dtype=torch.bool)
        for code, classes in partial.items():
            mask[-code - 1, [CLASS_NAMES.index(c) for c in classes]] = True
        self.register_buffer("allowed", mask)
        self.ce = nn.CrossEntropyLoss(reduction="sum", **ce_kwargs)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        known = y >= 0
        total = self.ce(logits[known], y[known]) if bool(known.any()) else logits.sum() * 0.0
        unknown = ~known
        if bool(unknown.any()):
            lu = logits[unknown]
            inside = lu.masked_fill(~self.allowed[-y[unknown] - 1], float("-inf"))
            total = total + (torch.logsumexp(lu, dim=1) - torch.logsumexp(inside, dim=1)).sum()
        return total / len(y)


def train_one_epoch(model, criterion, optimizer, loader, scheduler, epoch: int, *, log=print,
                    print_freq: int = 50, amp: bool = False, ema: AveragedModel | None = None
                    ) -> dict[str, float]:
    """One pass over ``loader`` (ends early when a TimeCosineLR budget is spent): loss, accuracy, images/s.

    Batches go to the model's device; ``amp`` runs the forward pass in bfloat16
    autocast (on CUDA), and ``ema``, if given, is updated after every step.
    """
    model.train()
    device = next(model.parameters()).device
    t0, n, loss_sum, correct = time.time(), 0, 0.0, 0
    for step, (x, y) in enumerate(loader):
        if isinstance(scheduler, TimeCosineLR) and scheduler.fraction() >= 1.0:
            log(f"epoch {epoch}: time budget spent after {step} steps")
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        loss = criterion(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        if scheduler is not None:
            scheduler.step()
        n += len(y)
        loss_sum += loss.item() * len(y)
        correct += int((out.argmax(1) == y).sum())  # NOT_STAR items never count as correct
        if step % print_freq == 0:
            log(f"epoch {epoch} step {step}/{len(loader)} loss {loss.item():.4f} "
                f"lr {optimizer.param_groups[0]['lr']:.2e} {n / (time.time() - t0):.1f} img/s")
    return {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1), "img_per_s": n / (time.time() - t0)}


@torch.inference_mode()
def predict_logits(model, loader) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), labels (N,)) over ``loader`` in eval mode, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    for x, y in loader:
        logits.append(model(x.to(device)).float().cpu().numpy())
        labels.append(np.asarray(y))
    return np.concatenate(logits), np.concatenate(labels)


def classification_metrics(probs: np.ndarray, labels: np.ndarray,
                           n_classes: int = len(CLASS_NAMES)) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall and the confusion matrix (rows = truth)."""
    pred = probs.argmax(axis=1)
    cm = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(cm, (labels, pred), 1)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(cm) / support
        precision = np.diag(cm) / cm.sum(axis=0)
    present = support > 0
    return {
        "n": int(len(labels)),
        "accuracy": float((pred == labels).mean()),
        "balanced_accuracy": float(np.nanmean(recall[present])),
        "recall": {c: float(r) for c, r in zip(CLASS_NAMES, recall, strict=True)},
        "precision": {c: float(p) for c, p in zip(CLASS_NAMES, precision, strict=True)},
        "support": {c: int(s) for c, s in zip(CLASS_NAMES, support, strict=True)},
        "confusion": cm.tolist(),
    }


def evaluate(model, loader) -> dict:
    """Validation metrics at T = 1 and after temperature scaling (logits kept for calibration)."""
    logits, labels = predict_logits(model, loader)
    temperature = calibration.fit_temperature(logits, labels)
    probs = calibration.softmax(logits, temperature)
    m = classification_metrics(probs, labels)
    m["temperature"] = temperature
    m["ece"] = calibration.expected_calibration_error(probs, labels)
    m["ece_uncalibrated"] = calibration.expected_calibration_error(calibration.softmax(logits), labels)
    m["nll"] = calibration.nll(logits, labels, temperature)
    return m


def partial_set_scores(model, loaders: dict[str, DataLoader]) -> dict:
    """The partial-label validation checks, at T = 1 (None for a set without a loader).

    ``grey_galaxies_called_star``: share of the grey ground-based galaxies
    (``loaders["grey"]``) called Star/Artifact.  ``gz2_val_two_way``: the gz2
    spiral / not-spiral accuracy (:func:`two_way_scores`) over ``loaders["gz2"]``.
    """
    out = {"grey_galaxies_called_star": None, "gz2_val_two_way": None}
    if "grey" in loaders:
        logits, _ = predict_logits(model, loaders["grey"])
        out["grey_galaxies_called_star"] = float((logits.argmax(axis=1) == CLASS_NAMES.index("Star/Artifact")).mean())
    if "gz2" in loaders:
        logits, y = predict_logits(model, loaders["gz2"])
        out["gz2_val_two_way"] = two_way_scores(calibration.softmax(logits), y == SPIRAL_ANY)["accuracy"]
    return out


def load_items(args) -> pd.DataFrame:
    """The labelled items from ``--data`` and/or ``--kaggle-dir``."""
    parts = []
    if args.data:
        parts.append(labelled_items(args.data, seed=args.split_seed,
                                    include_field_stars=not args.no_field_stars))
    if args.kaggle_dir:
        parts.append(kaggle_items(args.kaggle_dir, seed=args.split_seed))
    if not parts:
        raise GalaxyCoreError("Give --data (the shared data folder) and/or --kaggle-dir, or --pack.")
    return pd.concat(parts, ignore_index=True)


def framed_sets(args, framing: FramingSettings, *, log=print) -> tuple[pd.DataFrame, np.ndarray]:
    """All items and their framed uint8 (N, S, S, 3) images, from ``--pack`` or the data folders.

    The rows are the labelled items (``set`` "labelled"), then the partial-label
    sets the flags ask for ("grey", "gz2").  From the data folders the images
    come from the framed cache (:func:`build_cache`); a pack must have been made
    with the same framing, split seed and cached side.
    """
    cache_size = args.cache_size or 2 * args.size
    wanted = ["labelled"] + ["grey"] * bool(args.not_star_galaxies) + ["gz2"] * bool(args.gz2_two_way)
    if args.pack:
        pack = read_pack(args.pack)
        if pack.framing != framing or pack.split_seed != args.split_seed:
            raise GalaxyCoreError(f"{args.pack} was framed with {pack.framing.as_dict()} and split seed "
                                  f"{pack.split_seed}; this run asks for {framing.as_dict()} and {args.split_seed}")
        if pack.images.shape[1] != cache_size:
            raise GalaxyCoreError(f"{args.pack} holds {pack.images.shape[1]} px images; this run wants "
                                  f"{cache_size} px (--cache-size)")
        absent = [w for w in wanted if not (pack.items["set"] == w).any()]
        if absent:
            raise GalaxyCoreError(f"{args.pack} has no items of the sets {absent}")
        keep = pack.items["set"].isin(wanted).to_numpy()
        log(f"pack: {args.pack}, {int(keep.sum())} of {len(keep)} items used")
        return pack.items[keep].reset_index(drop=True), pack.images[keep]
    items = load_items(args)
    parts, images = [items.assign(set="labelled")], [build_cache(items, cache_size, framing,
                                                                 Path(args.cache_dir), log=log)]
    for name, make in (("grey", not_star_items), ("gz2", gz2_two_way_items)):
        if name in wanted and args.data:
            extra = make(args.data, args.split_seed)
            images.append(build_cache(extra, cache_size, framing, Path(args.cache_dir), log=log))
            parts.append(extra.assign(set=name))
    all_images = np.asarray(images[0]) if len(images) == 1 else np.concatenate([np.asarray(i) for i in images])
    return pd.concat(parts, ignore_index=True), all_images


def add_validation_source(parser: argparse.ArgumentParser) -> None:
    """The ``--data`` / ``--pack`` choice of :func:`validation_sets`, for the bench scripts."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="the shared data folder (framed through the cache)")
    src.add_argument("--pack", help="a classifier pack (train_classifier --write-pack)")


def validation_sets(*, data: str | Path | None = None, pack: str | Path | None = None,
                    sets: tuple[str, ...] = ("labelled", "grey", "gz2"),
                    cache_dir: str | Path = "cache") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{set: (uint8 (N, 128, 128, 3) framed images, labels (N,))} of the validation split.

    From the data folder's framed cache or a pack (exactly one of ``data`` and
    ``pack``), with the default framing and split, as training frames them.
    """
    if (data is None) == (pack is None):
        raise GalaxyCoreError("Give either a data folder or a pack.")
    flags = ["--size", "64", "--cache-size", "128", "--cache-dir", str(cache_dir)]
    flags += ["--not-star-galaxies"] * ("grey" in sets) + ["--gz2-two-way"] * ("gz2" in sets)
    args = get_args_parser().parse_args((["--data", str(data)] if data is not None else ["--pack", str(pack)]) + flags)
    items, images = framed_sets(args, FramingSettings(), log=lambda *_: None)
    val = (items["split"] == "val").to_numpy()
    out = {}
    for name in sets:
        idx = np.flatnonzero(val & (items["set"] == name).to_numpy())
        out[name] = (np.asarray(images[idx]), items["y"].to_numpy()[idx].astype(int))
    return out


def not_star_items(data: str | Path, seed: int) -> pd.DataFrame:
    """Grey ground-based galaxies as :data:`NOT_STAR` items (same columns as labelled items)."""
    df = grey_galaxy_items(data, seed=seed)
    df["label"], df["y"], df["x_px"], df["y_px"] = "not_star", NOT_STAR, np.nan, np.nan
    return df


def gz2_two_way_items(data: str | Path, seed: int) -> pd.DataFrame:
    """gz2_spiral images as :data:`SPIRAL_ANY` / :data:`NOT_SPIRAL` items (same columns as labelled items)."""
    df = gz2_items(data, seed=seed)
    df["label"] = np.where(df["spiral"], "spiral_any", "not_spiral")
    df["y"] = np.where(df["spiral"], SPIRAL_ANY, NOT_SPIRAL)
    df["x_px"], df["y_px"] = np.nan, np.nan
    return df.drop(columns=["spiral"])


def two_way_scores(probs: np.ndarray, spiral: np.ndarray) -> dict:
    """gz2 check: P(Spiral) + P(Spiral_Barred) > 0.5 against ``spiral`` (bool): n, accuracy, both recalls.

    A recall over no items is NaN.
    """
    called = probs[:, CLASS_NAMES.index("Spiral")] + probs[:, CLASS_NAMES.index("Spiral_Barred")] > 0.5
    t = np.asarray(spiral, bool)

    def rate(hits: np.ndarray) -> float:
        return float(hits.mean()) if len(hits) else float("nan")

    return {"n": int(len(t)), "accuracy": rate(called == t),
            "spiral_recall": rate(called[t]), "non_spiral_recall": rate(~called[~t])}


def make_checkpoint(model, args, metrics: dict, history: list, counts: dict, mean, std,
                    framing: FramingSettings, train_seconds: float) -> ClassifierCheckpoint:
    """The checkpoint: fp16 weights plus everything inference needs, and the recipe."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    return ClassifierCheckpoint(
        state_dict=state, class_names=CLASS_NAMES, input_size=int(args.size),
        mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std), framing=framing,
        temperature=float(metrics["temperature"]), tta=bool(args.tta_default),
        recipe={"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "split_seed": int(args.split_seed), "seed": int(args.seed), "counts": counts,
                "train_seconds": float(train_seconds), "torch": str(torch.__version__),
                "torchvision": str(torchvision.__version__)},
        metrics=metrics, history=history,
    )


def make_logger(log_path: str | None) -> Callable[[str], None]:
    """A log function: timestamped lines on stdout, also appended to ``log_path`` when given."""
    path = Path(log_path) if log_path else None

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if path:
            with path.open("a") as fh:
                fh.write(line + "\n")

    return log


def split_indices(args, all_items: pd.DataFrame, *, log=print
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Rows of ``all_items`` to train on and to validate on, and each partial-label set's validation rows.

    The labelled training rows are cut to ``--max-train`` (a seeded draw); the
    partial-label sets' training rows join training, their validation rows are watched.
    """
    sets, split = all_items["set"].to_numpy(), all_items["split"].to_numpy()
    train_idx = np.flatnonzero((sets == "labelled") & (split == "train"))
    val_idx = np.flatnonzero((sets == "labelled") & (split == "val"))
    if args.max_train and args.max_train < len(train_idx):
        rng = np.random.default_rng(args.seed)
        train_idx = np.sort(rng.choice(train_idx, args.max_train, replace=False))
    extra_val: dict[str, np.ndarray] = {}
    for name in ("grey", "gz2"):
        if not (sets == name).any():
            continue
        extra_train = np.flatnonzero((sets == name) & (split == "train"))
        train_idx = np.concatenate([train_idx, extra_train])
        extra_val[name] = np.flatnonzero((sets == name) & (split == "val"))
        log(f"partial labels {name}: {len(extra_train)} train, {len(extra_val[name])} val")
    return train_idx, val_idx, extra_val


def item_counts(all_items: pd.DataFrame, train_idx: np.ndarray) -> dict:
    """Labelled items per split and class, and the training rows used per class and partial label."""
    items = all_items[all_items["set"].to_numpy() == "labelled"]
    y = all_items["y"].to_numpy()
    counts = {split: {c: int(((items["split"] == split) & (items["label"] == c)).sum())
                      for c in CLASS_NAMES} for split in ("train", "val")}
    counts["train_used"] = {c: int((y[train_idx] == i).sum()) for i, c in enumerate(CLASS_NAMES)}
    counts["train_used"]["not_star_grey_galaxies"] = int((y[train_idx] == NOT_STAR).sum())
    counts["train_used"]["gz2_spiral"] = int((y[train_idx] == SPIRAL_ANY).sum())
    counts["train_used"]["gz2_non_spiral"] = int((y[train_idx] == NOT_SPIRAL).sum())
    return counts


def input_normalisation(init: ClassifierCheckpoint | None, images: np.ndarray,
                        train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std): the fine-tuned checkpoint's, else measured on about 2000 training images."""
    if init is not None:  # fine-tuning keeps the input normalisation the weights were trained with
        return np.asarray(init.mean, np.float32), np.asarray(init.std, np.float32)
    sample = np.asarray(images[train_idx[:: max(1, len(train_idx) // 2000)]], dtype=np.float32) / 255.0
    return sample.mean(axis=(0, 1, 2)), sample.std(axis=(0, 1, 2))


def train_loader_and_loss(args, images: np.ndarray, y: np.ndarray, train_idx: np.ndarray, mean, std,
                          device: torch.device) -> tuple[DataLoader, PartialLabelLoss]:
    """The augmented training loader and the loss, balancing classes as ``--balance`` says."""
    train_tf = (partial(train_transforms, distant_p=args.distant_p,
                        distant_snr=tuple(args.distant_snr) if args.distant_snr else None) if args.augment
                else no_aug_transforms)(args.size, mean=mean, std=std)
    train_ds = FramedDataset(np.asarray(images[train_idx]), y[train_idx], train_tf)
    loader_kw = ({"num_workers": args.workers, "persistent_workers": True, "prefetch_factor": 4}
                 if args.workers > 0 else {})
    loader_kw["pin_memory"] = device.type == "cuda"
    y_train = y[train_idx]
    cw = class_weights(y_train[y_train >= 0], args.balance_power)
    gen = torch.Generator().manual_seed(args.seed)
    if args.balance == "sampler":
        # Partially labelled items are drawn like the most common class (weight 1).
        weights = torch.as_tensor(np.where(y_train >= 0, cw[np.maximum(y_train, 0)], 1.0), dtype=torch.double)
        sampler = WeightedRandomSampler(weights, num_samples=len(train_idx), replacement=True, generator=gen)
        train_loader = DataLoader(train_ds, batch_size=args.batch_size, sampler=sampler, drop_last=True,
                                  **loader_kw)
        return train_loader, PartialLabelLoss(label_smoothing=args.label_smoothing)
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, generator=gen,
                              drop_last=True, **loader_kw)
    weight = torch.as_tensor(cw, dtype=torch.float32) if args.balance == "loss" else None
    return train_loader, PartialLabelLoss(weight=weight, label_smoothing=args.label_smoothing)


def prepare_model(args, init: ClassifierCheckpoint | None, device: torch.device, criterion: nn.Module, *,
                  log=print) -> tuple[nn.Module, AveragedModel | None]:
    """The network (from ``--init`` when fine-tuning) on ``device``, and its weight average if asked for.

    The exponential moving average of the weights (batch-norm statistics
    included) is evaluated and saved in place of the raw weights when
    ``--model-ema-decay`` is set.
    """
    model = build_model()
    if init is not None:
        model.load_state_dict(float_state_dict(init.state_dict))
        log(f"initialised from {args.init} (fine-tuning)")
    model.to(device)
    criterion.to(device)
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.model_ema_decay), use_buffers=True)
           if args.model_ema_decay > 0 else None)
    return model, ema


def make_optimizer(args, model: nn.Module, steps_per_epoch: int):
    """AdamW and its schedule: by wall time with ``--time-budget-min``, else one-cycle over the epochs."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if args.time_budget_min > 0:
        scheduler = TimeCosineLR(optimizer, max_lr=args.lr, budget_s=60.0 * args.time_budget_min)
    else:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
            pct_start=min(0.3, 1.0 / max(args.epochs, 1)))
    return optimizer, scheduler


@dataclass
class TrainingRun:
    """What the epoch loop (:func:`fit`) works with, and what its checkpoints record."""

    args: argparse.Namespace
    model: nn.Module
    ema: AveragedModel | None
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    train_loader: DataLoader
    val_loader: DataLoader
    extra_loaders: dict[str, DataLoader]
    val_labels: np.ndarray
    amp: bool
    counts: dict
    mean: np.ndarray
    std: np.ndarray
    framing: FramingSettings
    log: Callable[[str], None]


def prepare_run(args, all_items: pd.DataFrame, images: np.ndarray, framing: FramingSettings, *,
                log=print) -> TrainingRun:
    """Split the items, measure the normalisation, build the loaders, the model and its optimiser."""
    y = all_items["y"].to_numpy()
    train_idx, val_idx, extra_val = split_indices(args, all_items, log=log)
    counts = item_counts(all_items, train_idx)
    log(f"items: {len(train_idx)} train, {len(val_idx)} val; counts {json.dumps(counts)}")
    init = checkpoint.read(args.init) if args.init else None
    mean, std = input_normalisation(init, images, train_idx)
    log(f"normalisation mean {mean.round(4).tolist()} std {std.round(4).tolist()}")
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    val_tf = eval_transforms(args.size, mean=mean, std=std)
    train_loader, criterion = train_loader_and_loss(args, images, y, train_idx, mean, std, device)
    val_loader = DataLoader(FramedDataset(np.asarray(images[val_idx]), y[val_idx], val_tf), batch_size=256)
    extra_loaders = {name: DataLoader(FramedDataset(images[idx], y[idx], val_tf), batch_size=256)
                     for name, idx in extra_val.items() if len(idx)}
    model, ema = prepare_model(args, init, device, criterion, log=log)
    optimizer, scheduler = make_optimizer(args, model, len(train_loader))
    return TrainingRun(args=args, model=model, ema=ema, criterion=criterion, optimizer=optimizer,
                       scheduler=scheduler, train_loader=train_loader, val_loader=val_loader,
                       extra_loaders=extra_loaders, val_labels=y[val_idx],
                       amp=bool(args.amp) and device.type == "cuda", counts=counts, mean=mean, std=std,
                       framing=framing, log=log)


def epoch_row(run: TrainingRun, epoch: int, tr: dict, m: dict, judged: nn.Module, t_start: float) -> dict:
    """One epoch's line of the history: training figures, validation metrics, partial-label checks."""
    return {"epoch": epoch, "train_loss": tr["loss"], "train_acc": tr["acc"], "img_per_s": tr["img_per_s"],
            "val_acc": m["accuracy"], "val_bal_acc": m["balanced_accuracy"], "val_ece": m["ece"],
            "star_recall": m["recall"]["Star/Artifact"], "temperature": m["temperature"],
            **partial_set_scores(judged, run.extra_loaders),
            # Accuracy is argmax, so the raw weights need their logits only, no temperature fit.
            "raw_val_acc": (float((predict_logits(run.model, run.val_loader)[0].argmax(axis=1)
                                   == run.val_labels).mean()) if run.ema is not None else None),
            "elapsed_s": time.time() - t_start}


def run_checkpoint(run: TrainingRun, judged: nn.Module, metrics: dict, history: list,
                   t_start: float) -> ClassifierCheckpoint:
    """:func:`make_checkpoint` of ``judged`` with the run's recipe, counts and normalisation."""
    return make_checkpoint(judged, run.args, metrics, history, run.counts, run.mean, run.std, run.framing,
                           time.time() - t_start)


def save_epoch_copies(run: TrainingRun, judged: nn.Module, metrics: dict, history: list, t_start: float) -> None:
    """This epoch's checkpoint as OUT_last.pt (``--keep-last``) and OUT_eNN.pt (``--keep-every``)."""
    args = run.args
    if not (args.out and (args.keep_last or args.keep_every)):
        return
    ckpt = run_checkpoint(run, judged, metrics, history, t_start)
    stem = Path(args.out).stem
    if args.keep_last:
        checkpoint.write(ckpt, Path(args.out).with_name(f"{stem}_last.pt"))
    if args.keep_every:  # for averaging the epochs afterwards (training.classifier.soups)
        checkpoint.write(ckpt, Path(args.out).with_name(f"{stem}_e{metrics['epoch']:02d}.pt"))


def fit(run: TrainingRun) -> dict:
    """Train epoch by epoch, validating every ``--eval-every`` and saving the best; returns its metrics."""
    args, log = run.args, run.log
    history, best, best_metrics, t_start = [], -1.0, {}, time.time()
    for epoch in range(args.epochs):
        tr = train_one_epoch(run.model, run.criterion, run.optimizer, run.train_loader, run.scheduler, epoch,
                             log=log, amp=run.amp, ema=run.ema)
        budget_spent = isinstance(run.scheduler, TimeCosineLR) and run.scheduler.fraction() >= 1.0
        stop = budget_spent or bool(args.stop_file and Path(args.stop_file).exists())
        if (epoch + 1) % args.eval_every and not stop and epoch + 1 < args.epochs:
            log(f"epoch {epoch}: {json.dumps({k: round(v, 4) for k, v in tr.items()})}")
            continue
        judged = run.ema.module if run.ema is not None else run.model
        m = evaluate(judged, run.val_loader)
        history.append(epoch_row(run, epoch, tr, m, judged, t_start))
        log("EPOCH " + json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in history[-1].items()}))
        score = m["accuracy"] + m["balanced_accuracy"]
        if args.out and score > best:
            best, best_metrics = score, dict(m, epoch=epoch)
            checkpoint.write(run_checkpoint(run, judged, best_metrics, history, t_start), Path(args.out))
            log(f"saved {args.out} (epoch {epoch}, acc {m['accuracy']:.4f}, bal {m['balanced_accuracy']:.4f})")
        save_epoch_copies(run, judged, dict(m, epoch=epoch), history, t_start)
        if args.history:
            Path(args.history).write_text(json.dumps(history, indent=1))
        if budget_spent:
            log(f"time budget of {args.time_budget_min} min spent after epoch {epoch}")
            break
        if stop:
            log(f"stop file {args.stop_file} found: stopping after epoch {epoch}")
            break
    log(f"done in {time.time() - t_start:.0f} s; best {json.dumps({k: best_metrics.get(k) for k in ('epoch', 'accuracy', 'balanced_accuracy')})}")
    return best_metrics


def main(args) -> dict:
    """Train; returns the best validation metrics."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    log = make_logger(args.log)
    framing = FramingSettings(fill=args.fill)
    all_items, images = framed_sets(args, framing, log=log)
    if args.write_pack:
        size = write_pack(args.write_pack, FramedPack(images=images, items=all_items[list(PACK_COLUMNS)],
                                                      framing=framing, split_seed=args.split_seed))
        log(f"wrote {args.write_pack}: {len(all_items)} items, {size / 1e6:.1f} MB")
        return {}
    return fit(prepare_run(args, all_items, images, framing, log=log))


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """The training command line, one flat list of options (their order is the recipe's)."""
    p = argparse.ArgumentParser(description="Train the ResNet18 morphology classifier", add_help=add_help)
    p.add_argument("--data", default=None, help="the shared data folder (e.g. ../shared/data)")
    p.add_argument("--kaggle-dir", default=None,
                   help="folder with training_solutions_rev1.csv and images_training_rev1/")
    p.add_argument("--no-field-stars", action="store_true", help="leave out colour stars cut from sdss_fields")
    p.add_argument("--not-star-galaxies", action="store_true",
                   help="train on the grey ground-based galaxies as 'not Star/Artifact' (partial labels)")
    p.add_argument("--gz2-two-way", action="store_true",
                   help="train on gz2_spiral's training split as 'spiral' / 'not spiral' (partial labels); "
                        "its validation split is watched each epoch")
    p.add_argument("--out", default="weights/classifier.pt", help="checkpoint path ('' to save none)")
    p.add_argument("--keep-last", action="store_true",
                   help="also write every epoch's checkpoint to OUT_last.pt (the latest epoch)")
    p.add_argument("--keep-every", action="store_true",
                   help="also write each epoch's checkpoint to OUT_eNN.pt (NN = epoch), e.g. to average them")
    p.add_argument("--cache-dir", default="cache", help="framed-image cache folder")
    p.add_argument("--pack", default=None,
                   help="train from this pack of framed images (classifier_pack) instead of --data")
    p.add_argument("--write-pack", default=None,
                   help="frame the data, write it as a pack to this path and stop (no training)")
    p.add_argument("--log", default=None, help="also append the log to this file")
    p.add_argument("--history", default=None, help="write per-epoch metrics (JSON) here")
    p.add_argument("--size", type=int, default=64, help="network input side, px")
    p.add_argument("--cache-size", type=int, default=0, help="cached framed side, px (default 2 x size)")
    p.add_argument("--fill", type=float, default=FramingSettings().fill, help="object extent / crop side")
    p.add_argument("--epochs", type=int, default=12, help="most epochs")
    p.add_argument("--time-budget-min", type=float, default=0.0,
                   help="train for this many minutes with a time-based cosine schedule (0: one-cycle by epochs)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (one-cycle)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.05)
    p.add_argument("--balance", choices=("sampler", "loss", "none"), default="sampler",
                   help="class imbalance: weighted sampler, weighted loss, or none")
    p.add_argument("--balance-power", type=float, default=0.5,
                   help="class weight = (count / max count) ** -power (1 = fully balanced)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train without augmentation")
    p.add_argument("--distant-p", type=float, default=0.0,
                   help="probability of the distant-galaxy augmentation (PSF blur, shrunk to 12-48 px)")
    p.add_argument("--distant-snr", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="add sky noise to distant galaxies: peak S/N log-uniform in [LOW, HIGH]")
    p.add_argument("--max-train", type=int, default=0, help="use at most this many training items")
    p.add_argument("--no-tta-default", dest="tta_default", action="store_false",
                   help="store TTA off as the inference default")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda)")
    p.add_argument("--workers", type=int, default=0, help="data-loading worker processes (augmentation)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    p.add_argument("--model-ema-decay", type=float, default=0.0,
                   help="keep an exponential moving average of the weights with this per-step decay "
                        "(e.g. 0.999) and evaluate and save it instead (0: off)")
    p.add_argument("--eval-every", type=int, default=1, help="validate every N epochs (and after the last)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default=None,
                   help="start from this checkpoint's weights (fine-tune) instead of random")
    p.add_argument("--split-seed", type=int, default=SPLIT_SEED)
    p.add_argument("--stop-file", default=None, help="stop after the epoch in which this file appears")
    return p


def _cli() -> None:
    args = get_args_parser().parse_args()
    if args.epochs < 1 or args.size < 16 or not math.isfinite(args.lr) or args.eval_every < 1:
        raise SystemExit("error: need --epochs >= 1, --size >= 16, --eval-every >= 1 and a finite --lr")
    if not (0.0 <= args.model_ema_decay < 1.0):
        raise SystemExit("error: --model-ema-decay must lie in [0, 1)")
    try:
        main(args)
    except GalaxyCoreError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    _cli()
