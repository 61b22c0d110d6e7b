"""The morphology classifier: training lowers the loss, checkpoints load, shipped weights predict."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from synthetic_galaxy import galaxy_image
from torch.utils.data import DataLoader

from galaxy_core.classifier import DEFAULT_WEIGHTS, Classifier, classify_paths, dihedral_views
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.framing import FramingSettings, normalise_scale
from galaxy_core.morph_transforms import eval_transforms, train_transforms
from galaxy_core.train_classifier import (
    NOT_SPIRAL,
    NOT_STAR,
    SPIRAL_ANY,
    FramedDataset,
    PartialLabelLoss,
    build_model,
    checkpoint_dict,
    class_weights,
    classification_metrics,
    get_args_parser,
    train_one_epoch,
    two_way_scores,
)
from galaxy_core.types import CLASS_NAMES


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


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model().eval()
    args = get_args_parser().parse_args(["--size", "32"])
    metrics = {"temperature": 1.5, "accuracy": 0.5}
    ckpt = checkpoint_dict(model, args, metrics, [], {}, (0.1, 0.1, 0.1), (0.2, 0.2, 0.2),
                           FramingSettings(), 1.0)
    path = tmp_path / "clf.pt"
    torch.save(ckpt, path)
    clf = Classifier.load(path)
    assert clf.input_size == 32 and clf.class_names == CLASS_NAMES
    assert clf.temperature == 1.5
    crops = [galaxy_image(80, scale_px=5.0, seed=s) for s in range(3)]
    probs = clf.predict(crops, tta=False)
    # Same as the in-memory model's output (fp16 weights in the file).
    x = torch.from_numpy(np.stack([clf.frame(c) for c in crops])).permute(0, 3, 1, 2).float() / 255
    x = (x - 0.1) / 0.2
    with torch.no_grad():
        ref = torch.softmax(model(x) / 1.5, dim=1).numpy()
    assert np.allclose(probs, ref, atol=2e-2)


def test_onnx_engine_gives_the_torch_logits(tmp_path):
    torch.manual_seed(1)
    model = build_model().eval()
    args = get_args_parser().parse_args(["--size", "32"])
    ckpt = checkpoint_dict(model, args, {"temperature": 1.0}, [], {}, (0.1, 0.1, 0.1), (0.2, 0.2, 0.2),
                           FramingSettings(), 1.0)
    torch.save(ckpt, tmp_path / "clf.pt")
    fast = Classifier.load(tmp_path / "clf.pt", backend="onnx")
    slow = Classifier.load(tmp_path / "clf.pt", backend="torch")
    assert (fast.backend, slow.backend) == ("onnx", "torch")
    assert Classifier.load(tmp_path / "clf.pt").backend == "onnx"  # auto, onnxruntime is a requirement
    crops = [galaxy_image(70, scale_px=4.0 + s, seed=s) for s in range(5)]
    for tta in (False, True):
        z_fast, z_slow = fast.logits(crops, tta=tta), slow.logits(crops, tta=tta)
        assert z_fast.shape == (5, 6)
        assert np.abs(z_fast - z_slow).max() < 1e-4 * max(1.0, np.abs(z_slow).max())
    # Batches of any size, one crop included (the export's batch axis is dynamic).
    assert np.allclose(fast.logits(crops[:1], tta=False), slow.logits(crops[:1], tta=False), atol=1e-4)
    with pytest.raises(GalaxyCoreError, match="backend"):
        Classifier.load(tmp_path / "clf.pt", backend="tensorrt")


def test_dihedral_views_are_the_eight_symmetries():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    views = dihedral_views(x)
    assert len(views) == 8
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8


def test_missing_or_bad_weights_is_a_user_error(tmp_path):
    with pytest.raises(GalaxyCoreError, match="not found"):
        Classifier.load(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(GalaxyCoreError, match="Cannot load"):
        Classifier.load(bad)


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


def test_shipped_recipe_sets_the_preview_far_away_probability(shipped):
    assert shipped.train_distant_p == shipped.recipe["args"]["distant_p"] > 0
    snr = shipped.recipe["args"].get("distant_snr")
    assert shipped.train_distant_snr == (tuple(snr) if snr else None)


def test_shipped_weights_give_six_probabilities_summing_to_one(shipped):
    assert DEFAULT_WEIGHTS.stat().st_size < 26 * 2**20
    crops = [galaxy_image(size, scale_px=s, seed=i) for i, (size, s) in enumerate([(64, 3), (128, 8), (200, 5)])]
    for tta in (False, True):
        p = shipped.predict(crops, tta=tta)
        assert p.shape == (3, 6)
        assert np.allclose(p.sum(axis=1), 1.0) and (p >= 0).all()
    assert shipped.predict(np.stack([crops[0]] * 2)).shape == (2, 6)


def test_shipped_weights_are_thread_safe(shipped):
    crops = [galaxy_image(96, scale_px=4 + i, axis_ratio=0.3 + 0.1 * i, seed=i) for i in range(4)]
    expected = shipped.predict(crops, tta=False)
    results = [None] * 4

    def work(i):
        results[i] = shipped.predict(crops, tta=False)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert np.allclose(r, expected, atol=1e-6)


def _write_images(tmp_path: Path) -> list[str]:
    paths = []
    for i, (scale, ratio) in enumerate([(6.0, 0.9), (5.0, 0.2)]):
        p = tmp_path / f"gal{i}.png"
        Image.fromarray(galaxy_image(120, scale_px=scale, axis_ratio=ratio, seed=i)).save(p)
        paths.append(str(p))
    return paths


def test_classify_paths_columns(tmp_path):
    paths = _write_images(tmp_path)
    df = classify_paths(paths, tta=False)
    assert list(df.columns) == ["path", "label", *CLASS_NAMES]
    assert list(df["path"]) == paths
    assert np.allclose(df[list(CLASS_NAMES)].sum(axis=1), 1.0)
    assert set(df["label"]) <= set(CLASS_NAMES)


def test_unreadable_image_is_a_clear_error(tmp_path, shipped):
    good = _write_images(tmp_path)[0]
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(GalaxyCoreError, match="corrupt.jpg"):
        shipped.classify_paths([good, str(bad)])


def test_cli_classify_columns(tmp_path, capsys):
    cli = pytest.importorskip("galaxy_core.cli")
    paths = _write_images(tmp_path)
    assert cli.main(["classify", *paths, "--no-tta"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(df.columns) == ["path", "label", *CLASS_NAMES]
    assert len(df) == 2
    assert np.allclose(df[list(CLASS_NAMES)].sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_cli_classify_follows_the_checkpoints_tta_choice(tmp_path, capsys, shipped):
    cli = pytest.importorskip("galaxy_core.cli")
    paths = _write_images(tmp_path)
    out = {}
    for flag in ("", "--tta", "--no-tta"):
        assert cli.main(["classify", *paths, *([flag] if flag else [])]) == 0
        out[flag] = pd.read_csv(io.StringIO(capsys.readouterr().out))[list(CLASS_NAMES)].to_numpy()
    assert not np.allclose(out["--tta"], out["--no-tta"], atol=1e-4)
    assert np.allclose(out[""], out["--tta" if shipped.tta else "--no-tta"], atol=1e-6)


def _fake_data_folder(root: Path) -> Path:
    """A tiny folder laid out like ../shared/data: gz1, empty ngc/interacting tables, grey stars
    and galaxies, and gz2_spiral, all synthetic 48 px images."""
    def save(path: Path, img: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)

    rows = []
    for i in range(24):  # round = Elliptical (CLASS 0), thin = On_Edge (CLASS 3)
        thin = i % 2 == 1
        save(root / "gz1" / "images" / f"{1000 + i}.jpeg",
             galaxy_image(48, scale_px=4.0, axis_ratio=0.2 if thin else 0.9, angle_deg=17.0 * i, seed=i))
        rows.append({"OBJID": str(1000 + i), "CLASS": 3 if thin else 0})
    pd.DataFrame(rows).to_csv(root / "gz1" / "labels.csv", index=False)
    (root / "ngc_sdss").mkdir()
    (root / "ngc_sdss" / "labels.csv").write_text("Name,coarse,Hubble,MajAx,MinAx,PosAng\n")
    (root / "interacting_sdss").mkdir()
    for part in ("train", "valid"):
        (root / "interacting_sdss" / f"{part}.csv").write_text("label1,R.A.,Dec.\n")
    for i in range(12):
        grey = galaxy_image(48, scale_px=1.0, seed=100 + i).mean(axis=2).astype(np.uint8)
        save(root / "star_galaxy_cutouts" / "star" / f"s{i}.jpg", np.repeat(grey[..., None], 3, axis=2))
        save(root / "star_galaxy_cutouts" / "galaxy" / f"g{i}.jpg", galaxy_image(48, scale_px=5.0, seed=200 + i))
    for i in range(20):
        folder = "spirals" if i % 2 else "non_spirals"
        save(root / "gz2_spiral" / folder / f"{5000 + i}.jpg", galaxy_image(48, scale_px=5.0, seed=300 + i))
    return root


@pytest.mark.slow
def test_training_script_runs_end_to_end_with_partial_labels(tmp_path):
    from galaxy_core.morph_data import gz2_items
    from galaxy_core.train_classifier import main

    data = _fake_data_folder(tmp_path / "data")
    out = tmp_path / "clf.pt"
    args = get_args_parser().parse_args([
        "--data", str(data), "--no-field-stars", "--not-star-galaxies", "--gz2-two-way", "--keep-last",
        "--keep-every", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--size", "32", "--epochs", "2",
        "--batch-size", "8", "--history", str(tmp_path / "history.json")])
    best = main(args)
    assert 0.0 <= best["accuracy"] <= 1.0 and best["epoch"] in (0, 1)
    ckpt = torch.load(out, weights_only=True)
    used = ckpt["recipe"]["counts"]["train_used"]
    n_gz2_train = int((gz2_items(data)["split"] == "train").sum())
    assert used["gz2_spiral"] + used["gz2_non_spiral"] == n_gz2_train > 0
    assert used["not_star_grey_galaxies"] > 0
    assert ckpt["recipe"]["args"]["gz2_two_way"] is True
    history = ckpt["history"]
    assert 0.0 <= history[-1]["gz2_val_two_way"] <= 1.0
    last = torch.load(tmp_path / "clf_last.pt", weights_only=True)
    assert last["metrics"]["epoch"] == 1
    assert [torch.load(tmp_path / f"clf_e{e:02d}.pt", weights_only=True)["metrics"]["epoch"]
            for e in (0, 1)] == [0, 1]
    probs = Classifier.load(out).predict([galaxy_image(48, scale_px=4.0, seed=7)], tta=False)
    assert probs.shape == (1, 6) and probs.sum() == pytest.approx(1.0, abs=1e-5)


# --- weight averaging ("model soup") -----------------------------------------------------------


def _ckpt(seed: int, **over) -> dict:
    torch.manual_seed(seed)
    args = get_args_parser().parse_args(["--size", "32", "--seed", str(seed)])
    ckpt = checkpoint_dict(build_model(), args, {"temperature": 1.0, "epoch": seed}, [], {},
                           (0.1, 0.1, 0.1), (0.2, 0.2, 0.2), FramingSettings(), 10.0)
    return {**ckpt, **over}


@pytest.mark.slow
def test_averaged_checkpoint_is_the_mean_of_its_inputs_and_loads(tmp_path):
    from galaxy_core.average_weights import main as average_main

    paths = []
    for seed in (1, 2, 3):
        paths.append(tmp_path / f"c{seed}.pt")
        torch.save(_ckpt(seed), paths[-1])
    out = tmp_path / "soup.pt"
    assert average_main([*map(str, paths), "--out", str(out)]) == 0
    soup = torch.load(out, map_location="cpu", weights_only=True)
    ins = [torch.load(p, map_location="cpu", weights_only=True)["state_dict"] for p in paths]
    w = "layer1.0.conv1.weight"
    expected = (ins[0][w].float() + ins[1][w].float() + ins[2][w].float()) / 3
    assert soup["state_dict"][w].dtype == torch.float16
    assert torch.allclose(soup["state_dict"][w].float(), expected, atol=1e-3)
    assert not torch.allclose(expected, ins[0][w].float(), atol=1e-3)  # the inputs really differ
    assert torch.equal(soup["state_dict"]["bn1.num_batches_tracked"], ins[0]["bn1.num_batches_tracked"])
    assert [i["epoch"] for i in soup["recipe"]["inputs"]] == [1, 2, 3]
    assert all(i["recipe"]["train_seconds"] == 10.0 for i in soup["recipe"]["inputs"])
    probs = Classifier.load(out).predict([galaxy_image(64, scale_px=4.0, seed=0)], tta=False)
    assert probs.shape == (1, len(CLASS_NAMES)) and np.isclose(probs.sum(), 1.0, atol=1e-4)


def test_averaging_checkpoints_of_two_input_sizes_needs_and_sets_the_output_size():
    from galaxy_core.average_weights import average_checkpoints

    soup = average_checkpoints([_ckpt(1), _ckpt(2, input_size=64)], ["a", "b"], input_size=48)
    assert soup["input_size"] == 48
    assert [i["input_size"] for i in soup["recipe"]["inputs"]] == [32, 64]
    w = "fc.weight"
    assert torch.allclose(soup["state_dict"][w].float(),
                          (_ckpt(1)["state_dict"][w].float() + _ckpt(2)["state_dict"][w].float()) / 2, atol=1e-3)


def test_averaging_refuses_checkpoints_that_disagree(tmp_path, capsys):
    from galaxy_core.average_weights import average_checkpoints
    from galaxy_core.average_weights import main as average_main

    with pytest.raises(GalaxyCoreError, match="input_size"):
        average_checkpoints([_ckpt(1), _ckpt(2, input_size=64)], ["a", "b"])
    with pytest.raises(GalaxyCoreError, match="mean"):
        average_checkpoints([_ckpt(1), _ckpt(2, mean=[0.5, 0.5, 0.5])], ["a", "b"])
    with pytest.raises(GalaxyCoreError, match="at least 32"):
        average_checkpoints([_ckpt(1), _ckpt(2)], ["a", "b"], input_size=8)
    torch.save(_ckpt(1), tmp_path / "a.pt")
    assert average_main([str(tmp_path / "a.pt"), str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o.pt")]) == 2
    assert "error:" in capsys.readouterr().out and not (tmp_path / "o.pt").exists()


def test_partial_set_scores_count_grey_stars_and_the_gz2_two_way_split():
    from torch.utils.data import TensorDataset

    from galaxy_core.train_classifier import NOT_SPIRAL, NOT_STAR, SPIRAL_ANY, partial_set_scores

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
    from galaxy_core.train_classifier import validation_sets

    with pytest.raises(GalaxyCoreError, match="either"):
        validation_sets()
    with pytest.raises(GalaxyCoreError, match="either"):
        validation_sets(data="a", pack="b")
