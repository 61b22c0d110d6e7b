"""The shipped YOLO detector on planted objects, its errors, and a one-epoch training smoke test."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from galaxy_core.detection.yolo import SOURCE_KEY, YoloDetector, onnx_export_of
from galaxy_core.display import RenderSettings, render
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.synthetic import make_wcs
from galaxy_core.shipped import DETECTOR_WEIGHTS as DEFAULT_WEIGHTS
from galaxy_core.types import Field
from training.detector.scenes import SMALL_RECIPE, Library, save_library, write_dataset

needs_weights = pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(),
                                   reason="weights/detector.pt is not trained yet")

#: Planted objects: (x, y, sigma_x px, sigma_y px, peak in sky rms); far from each other.
PLANTED = [(40.3, 50.7, 2.0, 2.0, 60.0), (200.0, 60.2, 3.5, 2.0, 40.0), (120.6, 130.1, 5.0, 3.0, 30.0),
           (60.2, 210.4, 2.5, 2.5, 80.0), (215.1, 200.9, 4.0, 4.0, 25.0), (150.0, 30.0, 1.5, 1.5, 120.0)]


def _planted_field(size: int = 256, seed: int = 0) -> Field:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    data = rng.normal(0, 1, (size, size))
    for x, y, sx, sy, peak in PLANTED:
        data += peak * np.exp(-((xx - x) ** 2 / (2 * sx**2) + (yy - y) ** 2 / (2 * sy**2)))
    return Field(data[None].astype(np.float32), wcs=make_wcs(size))


@pytest.fixture(scope="module")
def detector():
    return YoloDetector(conf=0.25)


@needs_weights
@pytest.mark.slow
def test_shipped_detector_finds_planted_objects_within_2px(detector):
    field = _planted_field()
    found = detector(render(field, RenderSettings()), wcs=field.wcs)
    centres = np.array([(d.x, d.y) for d in found])
    assert len(found) >= len(PLANTED)
    for x, y, *_ in PLANTED:
        dist = np.hypot(centres[:, 0] - x, centres[:, 1] - y)
        assert dist.min() <= 2.0, f"no detection within 2 px of ({x}, {y}); nearest {dist.min():.1f}"
    # nothing much beyond the planted objects in pure noise
    assert len(found) <= len(PLANTED) + 2
    d = found[0]
    ra, dec = field.wcs.pixel_to_world_values(d.x, d.y)
    assert d.ra == pytest.approx(float(ra) % 360) and d.dec == pytest.approx(float(dec))
    assert [d.id for d in found] == list(range(1, len(found) + 1))
    assert all(d.label in ("galaxy", "star") and 0 < d.score <= 1 for d in found)


@needs_weights
@pytest.mark.slow
@pytest.mark.parametrize("factor", [1.5, 2])
def test_small_object_pass_keeps_positions_in_field_pixels(detector, factor):
    field = _planted_field(seed=2)
    found = detector(render(field, RenderSettings()), upsample=factor)
    centres = np.array([(d.x, d.y) for d in found])
    for x, y, *_ in PLANTED:
        assert np.hypot(centres[:, 0] - x, centres[:, 1] - y).min() <= 2.0
    assert all(-0.5 <= d.x_min < d.x_max <= 255.5 for d in found)


@needs_weights
@pytest.mark.slow
def test_flip_tta_finds_planted_objects_within_2px(detector):
    field = _planted_field(seed=4)
    flipped = detector(render(field, RenderSettings()), tta=True)
    centres = np.array([(d.x, d.y) for d in flipped])
    for x, y, *_ in PLANTED:
        assert np.hypot(centres[:, 0] - x, centres[:, 1] - y).min() <= 2.0
    assert len(PLANTED) <= len(flipped) <= len(PLANTED) + 2
    assert all(0.25 <= d.score <= 1 for d in flipped)
    assert repr(detector).endswith("tta=False)")
    with pytest.raises(GalaxyCoreError, match="confidence floor"):
        detector(np.zeros((64, 64, 3), np.uint8), conf=1.5)


@needs_weights
def test_small_object_pass_refuses_bad_factors_and_huge_fields(detector, monkeypatch):
    import galaxy_core.detection.yolo as yd

    rgb = np.zeros((300, 300, 3), np.uint8)
    for bad in (0, 4, 1.25, 2.5, float("nan")):
        with pytest.raises(GalaxyCoreError, match="upsampling factor"):
            detector(rgb, upsample=bad)
    monkeypatch.setattr(yd, "MAX_UPSAMPLED_PIXELS", 300 * 300 * 3)
    with pytest.raises(GalaxyCoreError, match="Turn the small-object pass off"):
        detector(rgb, upsample=2)
    monkeypatch.setattr(yd, "MAX_UPSAMPLED_PIXELS", 100 * 100)  # no pass: no upsampled copy, no limit
    assert detector(rgb, upsample=1) == []


@needs_weights
@pytest.mark.slow
def test_detector_is_thread_safe_and_reports_progress(detector):
    rgb = render(_planted_field(seed=1), RenderSettings(stretch="sqrt"))
    expected = detector(rgb)
    results, calls = [None, None], []

    def work(i):
        results[i] = detector(rgb, progress=lambda f, m: calls.append(f))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == expected and results[1] == expected
    assert max(calls) == 1.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A copy of the shipped .pt and its ONNX export beside it, made by the CLI."""
    import shutil

    from galaxy_core.cli import main

    pt = tmp_path_factory.mktemp("onnx") / "det.pt"
    shutil.copyfile(DEFAULT_WEIGHTS, pt)
    assert onnx_export_of(pt) is None and YoloDetector(pt).backend == "torch"
    assert main(["export-onnx", str(pt)]) == 0
    return pt


@needs_weights
@pytest.mark.slow
def test_onnx_and_torch_backends_give_the_same_detections(exported):
    field = _planted_field(seed=3)
    rgb = render(field, RenderSettings())
    onnx_det = YoloDetector(exported, conf=0.25)
    torch_det = YoloDetector(exported, conf=0.25, backend="torch")
    assert onnx_det.backend == "onnx" and onnx_det.weights == exported.with_suffix(".onnx")
    assert torch_det.backend == "torch" and torch_det.weights == exported
    for upsample in (1, 2):
        a, b = onnx_det(rgb, upsample=upsample), torch_det(rgb, upsample=upsample)
        assert len(a) == len(b) >= len(PLANTED)
        boxes = lambda ds: np.array([(d.x_min, d.y_min, d.x_max, d.y_max) for d in ds])  # noqa: E731
        np.testing.assert_allclose(boxes(a), boxes(b), atol=0.05)
        np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=2e-3)


@needs_weights
@pytest.mark.slow
def test_a_stale_onnx_export_is_not_used(exported, tmp_path):
    import shutil

    import onnx

    from galaxy_core.cli import main

    pt = tmp_path / "det.pt"
    shutil.copyfile(exported, pt)
    model = onnx.load(str(exported.with_suffix(".onnx")))
    assert {p.key: p.value for p in model.metadata_props}[SOURCE_KEY] != "0" * 64
    for prop in model.metadata_props:  # as if the .pt had been retrained since the export
        if prop.key == SOURCE_KEY:
            prop.value = "0" * 64
    onnx.save(model, str(tmp_path / "det.onnx"))
    assert onnx_export_of(pt) is None
    assert YoloDetector(pt).backend == "torch"
    with pytest.raises(GalaxyCoreError, match="No up-to-date ONNX export"):
        YoloDetector(pt, backend="onnx")
    with pytest.raises(GalaxyCoreError, match="backend must be one of"):
        YoloDetector(pt, backend="tensorrt")
    assert main(["export-onnx", str(tmp_path / "missing.pt")]) == 2


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(GalaxyCoreError, match="weights are missing"):
        YoloDetector(tmp_path / "nope.pt")


@needs_weights
@pytest.mark.parametrize("bad", [np.zeros((64, 64, 3), np.float32), np.zeros((4, 4, 3), np.uint8),
                                 np.zeros((64, 64, 5), np.uint8)])
def test_bad_pictures_are_refused(detector, bad):
    with pytest.raises(GalaxyCoreError):
        detector(bad)


@needs_weights
def test_bad_options_are_refused():
    with pytest.raises(GalaxyCoreError):
        YoloDetector(conf=1.5)
    with pytest.raises(GalaxyCoreError):
        YoloDetector(tile=100)


def _toy_library(rng: np.random.Generator) -> Library:
    """Synthetic elliptical blobs standing in for the real cutouts (tests never read ../shared)."""
    stamps = []
    for _ in range(6):
        yy, xx = np.mgrid[-20:21, -20:21]
        q, pa = rng.uniform(0.4, 1), rng.uniform(0, np.pi)
        u = xx * np.cos(pa) + yy * np.sin(pa)
        v = -xx * np.sin(pa) + yy * np.cos(pa)
        img = np.exp(-np.hypot(u, v / q) / 4.0)
        img[np.hypot(u, v / q) > 19] = 0
        stamps.append(np.repeat(img[None], 3, axis=0).astype(np.float32) / img.sum())
    yy, xx = np.mgrid[-5:6, -5:6]
    psf = np.exp(-(xx**2 + yy**2) / 2.0).astype(np.float32)
    return Library(tuple(stamps), tuple(f"toy{i}" for i in range(6)),
                   ("train",) * 4 + ("val",) * 2, psf / psf.sum(), ())


@pytest.mark.slow
def test_one_epoch_training_smoke(tmp_path):
    from training.detector.train import parse_args, train

    lib = _toy_library(np.random.default_rng(0))
    yaml = write_dataset(tmp_path / "ds", lib, n_train=8, n_val=4, size=128, seed=1,
                         progress_every=0)
    labels = sorted((tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    assert len(labels) == 8 and yaml.read_text().startswith(f"path: {tmp_path / 'ds'}")
    lib_path = tmp_path / "library.npz"
    save_library(lib, lib_path)
    out = tmp_path / "detector.pt"
    record = train(parse_args([
        "--dataset", str(tmp_path / "small"), "--recipe", "small", "--n-train", "4",
        "--n-val", "2", "--size", "128", "--also", str(tmp_path / "ds"), "--data-dir", str(tmp_path),
        "--library", str(lib_path), "--epochs", "1", "--imgsz", "128", "--batch", "4",
        "--project", str(tmp_path / "runs"), "--name", "smoke", "--weights-out", str(out),
    ]))
    recipe = json.loads((tmp_path / "small" / "recipe.json").read_text())
    assert recipe["min_object_px"] == SMALL_RECIPE.min_object_px and recipe["n_train"] == 4
    assert len(list((tmp_path / "small" / "labels" / "train").glob("*.txt"))) == 4
    combined = (tmp_path / "small" / "combined.yaml").read_text()
    assert str((tmp_path / "ds").resolve()) in combined and record["recipe"] == "small"
    assert out.exists() and out.stat().st_size > 1_000_000
    assert record["train_seconds"] > 0 and "metrics/mAP50(B)" in record["metrics"]
    assert record["onnx"] == str(out.with_suffix(".onnx")) and onnx_export_of(out) is not None
    det = YoloDetector(out, conf=0.0, tile=128, overlap=16)
    assert det.backend == "onnx"
    rgb = (np.random.default_rng(0).random((150, 170, 3)) * 255).astype(np.uint8)
    found = det(rgb)
    assert all(-0.5 <= d.x_min < d.x_max <= 169.5 and -0.5 <= d.y_min < d.y_max <= 149.5
               for d in found)


def test_transfer_seeds_another_architecture_from_a_checkpoint(tmp_path):
    from ultralytics import YOLO

    from training.detector.train import build_model, parse_args

    source = YOLO("yolov8n.yaml")
    ckpt = tmp_path / "v8n.pt"
    source.save(ckpt)
    p2 = build_model(parse_args(["--model", "yolov8n-p2.yaml", "--transfer", str(ckpt)]))
    fresh = YOLO("yolov8n-p2.yaml")
    first = "model.0.conv.weight"  # the stem: same name and shape in both architectures
    loaded = p2.model.state_dict()[first]
    assert torch.equal(loaded.float(), YOLO(ckpt).model.state_dict()[first].float())
    assert not torch.equal(loaded.float(), fresh.model.state_dict()[first].float())
    assert len(p2.model.model) == len(fresh.model.model) > len(source.model.model)
    with pytest.raises(GalaxyCoreError, match="exclude each other"):
        build_model(parse_args(["--init", str(ckpt), "--transfer", str(ckpt)]))


def test_results_history_is_read_without_polars(tmp_path, monkeypatch):
    import importlib.util
    from types import SimpleNamespace

    from ultralytics.engine.trainer import BaseTrainer

    from training.detector.train import _results_csv_without_polars

    monkeypatch.setattr(BaseTrainer, "read_results_csv", BaseTrainer.read_results_csv)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "polars" else find_spec(name, *a))
    _results_csv_without_polars()
    csv = tmp_path / "results.csv"
    csv.write_text("epoch, metrics/mAP50(B)\n1,0.25\n2,0.5\n")
    history = BaseTrainer.read_results_csv(SimpleNamespace(csv=csv))
    assert history == {"epoch": [1.0, 2.0], "metrics/mAP50(B)": [0.25, 0.5]}
    assert BaseTrainer.read_results_csv(SimpleNamespace(csv=tmp_path / "missing.csv")) == {}


@needs_weights
def test_the_direct_path_gives_ultralytics_own_boxes():
    from galaxy_core.display import render
    from galaxy_core.io.synthetic import synthetic_field

    detector = YoloDetector(conf=0.25, backend="torch")

    rgb = render(synthetic_field(seed=1, size=1300)[0])
    tiles = [np.ascontiguousarray(rgb[y:y + 640, x:x + 640]) for y in (0, 600) for x in (0, 600)]
    detector._predict(tiles[:1], conf=0.25)  # sets the predictor up
    assert detector._model.predictor is not None
    ours, theirs = detector._predict_direct(tiles, 0.05), detector._predict_ultralytics(tiles, 0.05)
    assert sum(len(t[1]) for t in theirs) > 20
    for a, b in zip(ours, theirs, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
