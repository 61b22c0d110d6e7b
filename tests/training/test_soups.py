"""Weight averaging of classifier checkpoints (a model soup)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology import checkpoint
from galaxy_core.morphology.classifier import Classifier
from galaxy_core.morphology.framing import FramingSettings
from galaxy_core.types import CLASS_NAMES
from tests.support import galaxy_image
from training.classifier.train import (
    build_model,
    get_args_parser,
    make_checkpoint,
)


def _ckpt(seed: int, **over) -> checkpoint.ClassifierCheckpoint:
    torch.manual_seed(seed)
    args = get_args_parser().parse_args(["--size", "32", "--seed", str(seed)])
    ckpt = make_checkpoint(build_model(), args, {"temperature": 1.0, "epoch": seed}, [], {},
                           (0.1, 0.1, 0.1), (0.2, 0.2, 0.2), FramingSettings(), 10.0)
    return replace(ckpt, **over)


@pytest.mark.slow
def test_averaged_checkpoint_is_the_mean_of_its_inputs_and_loads(tmp_path):
    from training.classifier.soups import main as average_main

    paths = []
    for seed in (1, 2, 3):
        paths.append(tmp_path / f"c{seed}.pt")
        checkpoint.write(_ckpt(seed), paths[-1])
    out = tmp_path / "soup.pt"
    assert average_main([*map(str, paths), "--out", str(out)]) == 0
    soup = checkpoint.read(out)
    ins = [checkpoint.read(p).state_dict for p in paths]
    w = "layer1.0.conv1.weight"
    expected = (ins[0][w].float() + ins[1][w].float() + ins[2][w].float()) / 3
    assert soup.state_dict[w].dtype == torch.float16
    assert torch.allclose(soup.state_dict[w].float(), expected, atol=1e-3)
    assert not torch.allclose(expected, ins[0][w].float(), atol=1e-3)  # the inputs really differ
    assert torch.equal(soup.state_dict["bn1.num_batches_tracked"], ins[0]["bn1.num_batches_tracked"])
    assert [i["epoch"] for i in soup.recipe["inputs"]] == [1, 2, 3]
    assert all(i["recipe"]["train_seconds"] == 10.0 for i in soup.recipe["inputs"])
    probs = Classifier.load(out).predict([galaxy_image(64, scale_px=4.0, seed=0)], tta=False)
    assert probs.shape == (1, len(CLASS_NAMES)) and np.isclose(probs.sum(), 1.0, atol=1e-4)


def test_averaging_checkpoints_of_two_input_sizes_needs_and_sets_the_output_size():
    from training.classifier.soups import average_checkpoints

    soup = average_checkpoints([_ckpt(1), _ckpt(2, input_size=64)], ["a", "b"], input_size=48)
    assert soup.input_size == 48
    assert [i["input_size"] for i in soup.recipe["inputs"]] == [32, 64]
    w = "fc.weight"
    assert torch.allclose(soup.state_dict[w].float(),
                          (_ckpt(1).state_dict[w].float() + _ckpt(2).state_dict[w].float()) / 2, atol=1e-3)


def test_averaging_refuses_checkpoints_that_disagree(tmp_path, capsys):
    from training.classifier.soups import average_checkpoints
    from training.classifier.soups import main as average_main

    with pytest.raises(GalaxyCoreError, match="input_size"):
        average_checkpoints([_ckpt(1), _ckpt(2, input_size=64)], ["a", "b"])
    with pytest.raises(GalaxyCoreError, match="mean"):
        average_checkpoints([_ckpt(1), _ckpt(2, mean=(0.5, 0.5, 0.5))], ["a", "b"])
    with pytest.raises(GalaxyCoreError, match="at least 32"):
        average_checkpoints([_ckpt(1), _ckpt(2)], ["a", "b"], input_size=8)
    checkpoint.write(_ckpt(1), tmp_path / "a.pt")
    assert average_main([str(tmp_path / "a.pt"), str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o.pt")]) == 2
    assert "error:" in capsys.readouterr().out and not (tmp_path / "o.pt").exists()
