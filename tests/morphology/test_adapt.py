"""Adapting the classifier's head to a user's labels: it learns them, its figures are honest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import adapt as adapt_module
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.adapt import (
    AdaptSettings,
    Features,
    Head,
    adapt,
    crop_features,
    cross_validate,
    fold_of,
)
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.morphology.labelled import LabelledCrops
from galaxy_core.morphology.replay import ReplaySet, body_sha256, load_replay, save_replay
from galaxy_core.types import CLASS_INDEX
from tests.support import galaxy_image
from training.classifier.train import build_model, get_args_parser, make_checkpoint

ROUND, THIN = CLASS_INDEX["Elliptical"], CLASS_INDEX["On_Edge"]
FAST = AdaptSettings(folds=4, augment_views=1, iterations=40, threads=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random 32 px ResNet18 checkpoint, its replay features, and 24 round / thin galaxies."""
    torch.manual_seed(0)
    args = get_args_parser().parse_args(["--size", "32"])
    ckpt = make_checkpoint(build_model().eval(), args, {"temperature": 1.0}, [], {}, (0.1, 0.1, 0.1),
                           (0.2, 0.2, 0.2), FramingSettings(), 1.0)
    path = checkpoint.write(ckpt, tmp_path_factory.mktemp("w") / "base.pt")
    clf = Classifier.load(path, backend="torch")
    crops = np.stack([clf.frame(galaxy_image(64, scale_px=4.0, axis_ratio=0.2 if i % 2 else 0.95,
                                             angle_deg=37.0 * i, seed=i)) for i in range(24)])
    labels = np.where(np.arange(24) % 2, THIN, ROUND)
    others = np.stack([clf.frame(galaxy_image(64, scale_px=2.0 + i % 5, seed=100 + i)) for i in range(30)])
    feats = crop_features(ckpt, others, augment_views=0)
    replay = ReplaySet(feats.plain, np.arange(30) % 6, feats.plain, np.arange(30) % 6, feats.tta,
                       body_sha256(ckpt.state_dict), {})
    user = LabelledCrops(crops, labels, tuple(f"f#{i}" for i in range(24)), np.full((24, 6), np.nan))
    return path, replay, user


@pytest.fixture(scope="module")
def adapted(tiny):
    path, replay, user = tiny
    data = path.read_bytes()
    return adapt(user, base=path, replay=replay, settings=FAST), data


def test_adapting_moves_predictions_towards_the_labels(tiny, adapted):
    path, _, user = tiny
    result, _ = adapted
    before = Classifier.load(path, backend="torch").predict(user.crops, tta=False, framed=True)
    after = Classifier.from_checkpoint(result.checkpoint, backend="torch").predict(
        user.crops, tta=False, framed=True)
    rows = np.arange(len(user))
    assert after[rows, user.labels].mean() > before[rows, user.labels].mean() + 0.2
    assert (after.argmax(1) == user.labels).mean() > 0.9
    # Cross-validated: objects the head never saw are also called better than by the base head.
    assert result.cv_after.accuracy > result.cv_before.accuracy
    assert result.cv_after.n == len(user) and sum(result.cv_after.counts) == len(user)
    assert 0 < result.cv_gain_ci < 1 and "+-" in result.summary()
    card = result.checkpoint.adaptation
    assert card["base"]["file"] == "base.pt" and len(card["base"]["sha256"]) == 64
    assert card["counts"]["Elliptical"] == 12 and len(card["labels"]) == 24


def test_the_base_file_is_never_written(tiny, adapted, tmp_path):
    path = tiny[0]
    result, data = adapted
    assert path.read_bytes() == data
    with pytest.raises(GalaxyCoreError, match="base weights"):
        result.save(path)
    assert path.read_bytes() == data
    saved = Classifier.load(result.save(tmp_path / "mine.pt"), backend="torch")
    assert saved.adaptation["counts"]["On_Edge"] == 12
    assert path.read_bytes() == data


def test_folds_keep_an_object_whole_and_score_each_once():
    keys = tuple(f"o{i % 30}" for i in range(40))  # ten objects appear twice
    labels = np.array([i % 30 % 3 for i in range(40)])
    folds = fold_of(keys, labels, 5, seed=1)
    for k in set(keys):
        assert len({f for f, kk in zip(folds, keys, strict=True) if kk == k}) == 1
    assert set(folds) == set(range(5))
    per_class = [np.bincount(folds[labels == c], minlength=5) for c in range(3)]
    assert all(p.max() - p.min() <= 2 for p in per_class)  # stratified


def test_cross_validation_never_scores_an_object_with_a_head_that_saw_it(monkeypatch):
    n, rng = 30, np.random.default_rng(0)
    code = np.eye(n, 512, dtype=np.float32)  # each object's features name it
    feats = Features(np.repeat(code[:, None], 8, axis=1), code[:, None].copy())
    labels = rng.integers(0, 2, n)
    folds = fold_of(tuple(map(str, range(n))), labels, 5, seed=0)
    seen = []
    real_fit = adapt_module.fit_head

    def recording_fit(base, x, y, replay, settings):
        seen.append(set(np.flatnonzero(x.max(axis=0)[:n] > 0)))
        return real_fit(base, x, y, replay, settings)

    monkeypatch.setattr(adapt_module, "fit_head", recording_fit)
    base = Head(np.zeros((6, 512), np.float32), np.zeros(6, np.float32))
    replay = ReplaySet(np.zeros((2, 512), np.float32), np.array([0, 1]), np.zeros((2, 512), np.float32),
                       np.array([0, 1]), np.zeros((2, 512), np.float32), "", {})
    plain, tta = cross_validate(feats, labels, folds, base, replay, AdaptSettings(prior=0.0, user_weight=1.0))
    assert len(seen) == 5
    for k, trained in enumerate(seen):
        assert trained.isdisjoint(np.flatnonzero(folds == k)) and len(trained) == (folds != k).sum()
    assert np.isfinite(plain).all() and np.isfinite(tta).all()
    # Random labels on features that identify each object: a head that had seen an object would
    # call it right; out of fold it cannot beat a coin by much.
    assert (plain.argmax(1) == labels).mean() < 0.8


def test_too_few_labels_one_class_and_conflicting_labels_are_refused(tiny):
    path, replay, user = tiny
    few = LabelledCrops(user.crops[:10], user.labels[:10], user.keys[:10], user.base_probs[:10])
    with pytest.raises(GalaxyCoreError, match="at least 20 labelled objects; got 10"):
        adapt(few, base=path, replay=replay, settings=FAST)
    one = replace(user, labels=np.full(len(user), ROUND))
    with pytest.raises(GalaxyCoreError, match="All 24 labels are Elliptical"):
        adapt(one, base=path, replay=replay, settings=FAST)
    twice = replace(user, keys=("f#0",) * 2 + user.keys[2:])
    with pytest.raises(GalaxyCoreError, match="labelled both"):
        adapt(twice, base=path, replay=replay, settings=FAST)


def test_replay_features_of_another_body_are_refused(tiny, tmp_path):
    path, replay, _ = tiny
    file = save_replay(tmp_path / "replay.npz", replay)
    back = load_replay(file, body=replay.body_sha256)
    assert np.allclose(back.features, replay.features, rtol=1e-2, atol=1e-3)
    with pytest.raises(GalaxyCoreError, match="another network"):
        load_replay(file, body="0" * 64)


def test_balanced_weights_give_each_labelled_class_the_same_share():
    y = np.array([2, 2, 2, 2, 2, 2, 0, 0, 4])
    w = adapt_module.class_balance(y)
    totals = np.bincount(y, weights=w[y], minlength=6)
    assert np.allclose(totals[[0, 2, 4]], totals[0]) and totals[[1, 3, 5]].sum() == 0
    assert w[y].mean() == pytest.approx(1.0)
