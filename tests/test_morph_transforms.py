"""Train/eval transform presets and the augmentation preview."""

from __future__ import annotations

import numpy as np
import torch
from synthetic_galaxy import galaxy_image

from galaxy_core.morph_transforms import (
    eval_transforms,
    preview_augmentations,
    to_tensor_u8,
    train_transforms,
)


def test_presets_give_normalised_float_inputs():
    img = to_tensor_u8(galaxy_image(128, scale_px=8.0))
    torch.manual_seed(0)
    for tf in (train_transforms(64), eval_transforms(64)):
        x = tf(img)
        assert x.shape == (3, 64, 64) and x.dtype == torch.float32
        assert torch.isfinite(x).all()


def test_eval_is_deterministic_and_train_is_random():
    img = to_tensor_u8(galaxy_image(128, scale_px=8.0))
    ev = eval_transforms(64)
    assert torch.equal(ev(img), ev(img))
    tr = train_transforms(64)
    torch.manual_seed(1)
    draws = [tr(img) for _ in range(3)]
    assert not torch.allclose(draws[0], draws[1])


def test_preview_views():
    img = galaxy_image(128, scale_px=8.0, axis_ratio=0.3)
    views = preview_augmentations(img, 64, seed=3)
    names = [n for n, _ in views]
    for expected in ("original", "rotated", "flipped", "colour-jittered", "perspective-warped"):
        assert expected in names
    for _, v in views:
        assert v.shape == (64, 64, 3) and v.dtype == np.uint8
    by_name = dict(views)
    assert np.array_equal(by_name["flipped"], by_name["original"][:, ::-1])
    assert not np.array_equal(by_name["rotated"], by_name["original"])
    again = dict(preview_augmentations(img, 64, seed=3))
    assert np.array_equal(again["train preset"], by_name["train preset"])
