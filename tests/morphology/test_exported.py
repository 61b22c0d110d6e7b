"""The classifier's export beside its weights: the same logits, no torch to load it, never stale."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch

from galaxy_core.cli import main
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint, exported
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.shipped import CLASSIFIER_WEIGHTS
from tests.support import cli_in_fresh_process, galaxy_image
from training.classifier.train import build_model, get_args_parser, make_checkpoint


@pytest.fixture()
def small_weights(tmp_path):
    torch.manual_seed(3)
    args = get_args_parser().parse_args(["--size", "32"])
    ckpt = make_checkpoint(build_model().eval(), args, {"temperature": 0.8}, [], {"acc": 0.5},
                           (0.1, 0.2, 0.3), (0.2, 0.25, 0.3), FramingSettings(), 1.0)
    return checkpoint.write(ckpt, tmp_path / "clf.pt")


def _settings(ckpt: checkpoint.ClassifierCheckpoint) -> dict:
    return {f.name: getattr(ckpt, f.name) for f in fields(ckpt) if f.name not in ("state_dict", "history")}


def test_settings_json_round_trips_and_refuses_other_text(small_weights):
    ckpt = checkpoint.read(small_weights)
    back = checkpoint.from_settings_json(checkpoint.settings_json(ckpt))
    assert _settings(back) == _settings(ckpt) and back.state_dict == {}
    for text in ("not json", "[1, 2]", '{"format": "other/1"}'):
        with pytest.raises(GalaxyCoreError):
            checkpoint.from_settings_json(text)


def test_the_export_gives_the_in_memory_exports_logits_and_goes_stale_with_its_weights(small_weights):
    crops = [galaxy_image(60, scale_px=3.0 + s, seed=s) for s in range(4)]
    before = Classifier.load(small_weights)  # no export yet: exported in memory
    assert before.backend == "onnx" and before.model is not None
    assert main(["export-onnx", str(small_weights)]) == 0
    assert exported.exported_path(small_weights).is_file()
    loaded = Classifier.load(small_weights)
    assert loaded.model is None and loaded.backend == "onnx"
    assert _settings(checkpoint.read(small_weights)) == _settings(exported.load(small_weights)[0])
    for tta in (False, True):
        np.testing.assert_array_equal(loaded.logits(crops, tta=tta), before.logits(crops, tta=tta))
    assert Classifier.load(small_weights, backend="torch").model is not None  # asked for torch
    with open(small_weights, "ab") as fh:  # other weights: the export no longer applies
        fh.write(b"\0")
    assert exported.load(small_weights) is None
    assert Classifier.load(small_weights).model is not None


def test_a_broken_export_is_ignored(small_weights):
    exported.exported_path(small_weights).write_bytes(b"not onnx")
    assert exported.load(small_weights) is None
    assert Classifier.load(small_weights).model is not None


def test_the_shipped_export_is_of_the_shipped_weights():
    """Retraining weights/classifier.pt without `export-onnx` would leave the fast load stale."""
    found = exported.load(CLASSIFIER_WEIGHTS)
    assert found is not None
    assert _settings(found[0]) == _settings(checkpoint.read(CLASSIFIER_WEIGHTS))


def test_a_classified_run_from_the_cli_does_not_import_torch(tmp_path):
    code, imported, stderr = cli_in_fresh_process(
        ["detect", "demo:synthetic", "--out", str(tmp_path / "c.csv"), "-q"], ["torch"])
    assert code == 0 and imported == {"torch": False}, stderr
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert len(rows) > 2 and "Spiral" in rows[0]  # classified: the probability columns
