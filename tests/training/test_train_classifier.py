"""Training the classifier: losses, metrics, the script end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import normalise_scale
from galaxy_core.morphology.transforms import eval_transforms, train_transforms
from galaxy_core.types import CLASS_NAMES
from tests.support import fake_data_folder, galaxy_image
from training.classifier.train import (
    NOT_SPIRAL,
    NOT_STAR,
    SPIRAL_ANY,
    FramedDataset,
    PartialLabelLoss,
    build_model,
    class_weights,
    classification_metrics,
    get_args_parser,
    train_one_epoch,
    two_way_scores,
)


def _tiny_set(n: int, size: int = 32, seed: int = 0):
    """Round (Elliptical, 2) versus thin (On_Edge, 3) synthetic galaxies, framed at ``size``."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        thin = i % 2 == 1
        img = galaxy_image(96, scale_px=rng.uniform(3, 8), axis_ratio=0.15 if thin else 0.9,
                           angle_deg=rng.uniform(0, 180), seed=seed * 1000 + i)
        images.append(normalise_scale(img, size))
        labels.append(3 if thin else 2)
    return np.stack(images), np.array(labels)


def _mean_loss(model, loader, criterion) -> float:
    model.train()  # batch statistics, as in training; no update
    with torch.no_grad():
        losses = [float(criterion(model(x), y)) * len(y) for x, y in loader]
    return sum(losses) / len(loader.dataset)


@pytest.mark.slow
def test_one_epoch_on_a_tiny_synthetic_set_lowers_the_loss():
    torch.manual_seed(0)
    images, labels = _tiny_set(64)
    ds = FramedDataset(images, labels, train_transforms(32))
    loader = DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    eval_loader = DataLoader(FramedDataset(images, labels, eval_transforms(32)), batch_size=64)
    model = build_model()
    criterion = torch.nn.CrossEntropyLoss()
    before = _mean_loss(model, eval_loader, criterion)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = train_one_epoch(model, criterion, opt, loader, None, 0, log=lambda _: None)
    after = _mean_loss(model, eval_loader, criterion)
    assert stats["loss"] > 0 and 0 <= stats["acc"] <= 1
    assert after < 0.8 * before


def test_partial_label_loss_is_cross_entropy_or_minus_log_not_star():
    star = CLASS_NAMES.index("Star/Artifact")
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0, 0.3, 1.0], [0.1, 0.2, -0.3, 0.0, 0.4, 3.0]],
                          requires_grad=True)
    y = torch.tensor([2, NOT_STAR])
    loss = PartialLabelLoss()(logits, y)
    p = torch.softmax(logits.detach(), dim=1)
    expected = (-torch.log(p[0, 2]) - torch.log(1 - p[1, star])) / 2
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    loss.backward()
    # A "not star" item pushes only its star logit down and every other logit up.
    assert logits.grad[1, star] > 0
    assert (torch.cat([logits.grad[1, :star], logits.grad[1, star + 1:]]) < 0).all()
    # All-labelled batches are plain (mean) cross-entropy.
    ce = torch.nn.functional.cross_entropy(logits.detach()[:1], y[:1])
    assert float(PartialLabelLoss()(logits.detach()[:1], y[:1])) == pytest.approx(float(ce), rel=1e-5)


def test_partial_label_loss_for_spiral_or_not():
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0, 0.3, 1.0], [1.1, 0.2, -0.3, 0.0, 0.4, 0.2]],
                          requires_grad=True)
    loss = PartialLabelLoss()(logits, torch.tensor([SPIRAL_ANY, NOT_SPIRAL]))
    p = torch.softmax(logits.detach(), dim=1)
    spiral = p[:, 0] + p[:, 1]
    expected = (-torch.log(spiral[0]) - torch.log(1 - spiral[1])) / 2
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    loss.backward()
    # "Spiral" raises Spiral and Spiral_Barred only; "not spiral" lowers exactly those two.
    assert (logits.grad[0, :2] < 0).all() and (logits.grad[0, 2:] > 0).all()
    assert (logits.grad[1, :2] > 0).all() and (logits.grad[1, 2:] < 0).all()


def test_two_way_scores_threshold_the_summed_spiral_probability():
    # P(Spiral) + P(Spiral_Barred): 0.6 (two 0.3s beat any single other class), 0.2, 0.9.
    probs = np.array([[0.3, 0.3, 0.1, 0.1, 0.1, 0.1],
                      [0.1, 0.1, 0.5, 0.1, 0.1, 0.1],
                      [0.45, 0.45, 0.025, 0.025, 0.025, 0.025]])
    assert two_way_scores(probs, np.array([True, False, True]))["accuracy"] == 1.0
    scores = two_way_scores(probs, np.array([False, False, False]))
    assert scores["accuracy"] == pytest.approx(1 / 3)
    assert scores["n"] == 3 and scores["non_spiral_recall"] == pytest.approx(1 / 3)


def test_class_weights_balance():
    y = np.array([0] * 100 + [1] * 25 + [2] * 4)
    w = class_weights(y, 1.0, n_classes=3)
    assert np.allclose(w * np.array([100, 25, 4]), w[0] * 100)  # fully balanced
    assert np.allclose(class_weights(y, 0.0, n_classes=3), 1.0)  # natural


def test_metrics_confusion_and_balanced_accuracy():
    labels = np.array([0, 0, 0, 1])
    probs = np.eye(6)[[0, 0, 1, 1]]
    m = classification_metrics(probs, labels)
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["confusion"][0][:2] == [2, 1]


@pytest.mark.slow
def test_training_script_runs_end_to_end_with_partial_labels(tmp_path):
    from training.classifier.data import gz2_items
    from training.classifier.train import main

    data = fake_data_folder(tmp_path / "data")
    out = tmp_path / "clf.pt"
    args = get_args_parser().parse_args([
        "--data", str(data), "--no-field-stars", "--not-star-galaxies", "--gz2-two-way", "--keep-last",
        "--keep-every", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--size", "32", "--epochs", "2",
        "--batch-size", "8", "--history", str(tmp_path / "history.json")])
    best = main(args)
    assert 0.0 <= best["accuracy"] <= 1.0 and best["epoch"] in (0, 1)
    ckpt = checkpoint.read(out)
    used = ckpt.recipe["counts"]["train_used"]
    n_gz2_train = int((gz2_items(data)["split"] == "train").sum())
    assert used["gz2_spiral"] + used["gz2_non_spiral"] == n_gz2_train > 0
    assert used["not_star_grey_galaxies"] > 0
    assert ckpt.recipe["args"]["gz2_two_way"] is True
    history = ckpt.history
    assert 0.0 <= history[-1]["gz2_val_two_way"] <= 1.0
    assert checkpoint.read(tmp_path / "clf_last.pt").metrics["epoch"] == 1
    assert [checkpoint.read(tmp_path / f"clf_e{e:02d}.pt").metrics["epoch"] for e in (0, 1)] == [0, 1]
    probs = Classifier.load(out).predict([galaxy_image(48, scale_px=4.0, seed=7)], tta=False)
    assert probs.shape == (1, 6) and probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_partial_set_scores_count_grey_stars_and_the_gz2_two_way_split():
    from torch.utils.data import TensorDataset

    from training.classifier.train import NOT_SPIRAL, NOT_STAR, SPIRAL_ANY, partial_set_scores

    class Echo(torch.nn.Module):  # the inputs are the logits
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x

    def logits(*classes):
        out = torch.full((len(classes), len(CLASS_NAMES)), -5.0)
        out[torch.arange(len(classes)), [CLASS_NAMES.index(c) for c in classes]] = 5.0
        return out

    grey = TensorDataset(logits("Star/Artifact", "Elliptical", "Spiral", "Elliptical"), torch.full((4,), NOT_STAR))
    gz2 = TensorDataset(logits("Spiral_Barred", "Elliptical", "Spiral"),
                        torch.tensor([SPIRAL_ANY, SPIRAL_ANY, NOT_SPIRAL]))
    scores = partial_set_scores(Echo(), {"grey": DataLoader(grey, batch_size=2),
                                         "gz2": DataLoader(gz2, batch_size=2)})
    assert scores == {"grey_galaxies_called_star": 0.25, "gz2_val_two_way": pytest.approx(1 / 3)}
    assert partial_set_scores(Echo(), {}) == {"grey_galaxies_called_star": None, "gz2_val_two_way": None}


def test_validation_sets_needs_exactly_one_source():
    from training.classifier.train import validation_sets

    with pytest.raises(GalaxyCoreError, match="either"):
        validation_sets()
    with pytest.raises(GalaxyCoreError, match="either"):
        validation_sets(data="a", pack="b")
