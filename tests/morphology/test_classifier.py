"""The shipped classifier: loads, predicts six probabilities, runs through ONNX Runtime."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.classifier import Classifier, classify_paths, dihedral_views
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.shipped import CLASSIFIER_WEIGHTS
from galaxy_core.types import CLASS_NAMES
from tests.support import galaxy_image
from training.classifier.train import (
    build_model,
    get_args_parser,
    make_checkpoint,
)


def test_onnx_engine_gives_the_torch_logits(tmp_path):
    torch.manual_seed(1)
    model = build_model().eval()
    args = get_args_parser().parse_args(["--size", "32"])
    ckpt = make_checkpoint(model, args, {"temperature": 1.0}, [], {}, (0.1, 0.1, 0.1), (0.2, 0.2, 0.2),
                           FramingSettings(), 1.0)
    checkpoint.write(ckpt, tmp_path / "clf.pt")
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
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    views = dihedral_views(x)
    assert len(views) == 8
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8


def test_missing_or_bad_weights_is_a_user_error(tmp_path):
    with pytest.raises(GalaxyCoreError, match="not found"):
        Classifier.load(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(GalaxyCoreError, match="not a readable classifier checkpoint"):
        Classifier.load(bad)


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load()


def test_shipped_recipe_sets_the_preview_far_away_probability(shipped):
    assert shipped.train_distant_p == shipped.recipe["args"]["distant_p"] > 0
    snr = shipped.recipe["args"].get("distant_snr")
    assert shipped.train_distant_snr == (tuple(snr) if snr else None)


def test_shipped_weights_give_six_probabilities_summing_to_one(shipped):
    assert CLASSIFIER_WEIGHTS.stat().st_size < 26 * 2**20
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
