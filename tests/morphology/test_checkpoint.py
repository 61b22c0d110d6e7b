"""The classifier's checkpoint: one schema, validated on load, the only writer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.morphology.reliability import AccuracyGrid, ReliabilityRule
from galaxy_core.types import CLASS_NAMES
from tests.support import galaxy_image
from training.classifier.train import (
    build_model,
    get_args_parser,
    make_checkpoint,
)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model().eval()
    args = get_args_parser().parse_args(["--size", "32"])
    metrics = {"temperature": 1.5, "accuracy": 0.5}
    ckpt = make_checkpoint(model, args, metrics, [], {}, (0.1, 0.1, 0.1), (0.2, 0.2, 0.2),
                           FramingSettings(), 1.0)
    path = checkpoint.write(ckpt, tmp_path / "clf.pt")
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


def _small(**over) -> checkpoint.ClassifierCheckpoint:
    torch.manual_seed(0)
    args = get_args_parser().parse_args(["--size", "32"])
    ckpt = make_checkpoint(build_model(), args, {"temperature": 1.0}, [], {}, (0.1, 0.1, 0.1),
                           (0.2, 0.2, 0.2), FramingSettings(), 1.0)
    return replace(ckpt, **over)


def test_every_field_survives_the_file_and_the_rule_comes_from_it(tmp_path):
    grid = AccuracyGrid((0.0, 24.0, np.inf), (0.0, 60.0, np.inf), ((0.5, 0.6), (0.7, 0.8)),
                        ((50, 50), (50, 50)))
    ckpt = _small(min_extent_px=24.0, min_peak_snr=60.0, accuracy_grid=grid, temperature_tta=0.9,
                  metrics={"bench": {"accuracy": 0.8}})
    back = checkpoint.read(checkpoint.write(ckpt, tmp_path / "c.pt"))
    assert back.to_dict().keys() == ckpt.to_dict().keys()
    for key in ("class_names", "input_size", "mean", "std", "framing", "temperature",
                "temperature_tta", "tta", "min_extent_px", "min_peak_snr", "accuracy_grid",
                "recipe", "metrics"):
        assert getattr(back, key) == getattr(ckpt, key), key
    assert back.reliability == ReliabilityRule(24.0, 60.0)
    assert Classifier.load(tmp_path / "c.pt", backend="torch").reliability == ReliabilityRule(24.0, 60.0)
    assert _small().reliability is None  # not measured: nothing is trusted


def test_foreign_old_and_broken_files_are_refused_with_what_is_wrong(tmp_path):
    torch.save({"state_dict": {}, "epoch": 3}, tmp_path / "foreign.pt")
    with pytest.raises(GalaxyCoreError, match="not a classifier checkpoint of this tool.*lacks format"):
        checkpoint.read(tmp_path / "foreign.pt")
    old = _small().to_dict() | {"format": "galaxy_core.classifier/0"}
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(GalaxyCoreError, match="format 'galaxy_core.classifier/0'"):
        checkpoint.read(tmp_path / "old.pt")
    torch.save(_small().to_dict() | {"framing": {"fill": 7.0}}, tmp_path / "bad.pt")
    with pytest.raises(GalaxyCoreError, match="[Ff]raming fill"):
        checkpoint.read(tmp_path / "bad.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(GalaxyCoreError, match="holds a list"):
        checkpoint.read(tmp_path / "list.pt")
    with pytest.raises(GalaxyCoreError, match="architecture"):
        _small(arch="vit")
    torch.save(_small().to_dict() | {"state_dict": {"conv1.weight": torch.zeros(1)}}, tmp_path / "w.pt")
    with pytest.raises(GalaxyCoreError, match="do not fit a ResNet18"):
        Classifier.load(tmp_path / "w.pt")


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = checkpoint.write(_small(temperature=2.0), tmp_path / "c.pt")

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError):
        checkpoint.write(_small(temperature=3.0), path)
    monkeypatch.undo()
    assert checkpoint.read(path).temperature == 2.0
