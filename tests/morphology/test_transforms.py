"""Train/eval transform presets and the augmentation preview."""

from __future__ import annotations

import numpy as np
import torch

from galaxy_core.morphology.framing import measure_extent
from galaxy_core.morphology.transforms import (
    DistantGalaxy,
    eval_transforms,
    preview_augmentations,
    to_tensor_u8,
    train_components,
    train_transforms,
)
from tests.support import galaxy_image


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
    for expected in ("original", "rotated", "flipped", "colour-jittered", "perspective-warped", "far away"):
        assert expected in names
    for _, v in views:
        assert v.shape == (64, 64, 3) and v.dtype == np.uint8
    by_name = dict(views)
    assert np.array_equal(by_name["flipped"], by_name["original"][:, ::-1])
    assert not np.array_equal(by_name["rotated"], by_name["original"])
    again = dict(preview_augmentations(img, 64, seed=3))
    assert np.array_equal(again["train preset"], by_name["train preset"])


def test_distant_galaxy_blurs_in_place_and_is_opt_in():
    img = to_tensor_u8(galaxy_image(128, scale_px=8.0, noise=0.5))  # extent about 33 px
    torch.manual_seed(0)
    far = DistantGalaxy(8.0, 8.001, fill=33.0 / 128, psf_fwhm_px=(1.6, 1.6001))(img)
    assert far.shape == img.shape and far.dtype == torch.uint8

    def sharpness(t):
        lum = t.float().mean(0)
        return float((lum[1:] - lum[:-1]).abs().mean() + (lum[:, 1:] - lum[:, :-1]).abs().mean())

    assert sharpness(far) < 0.5 * sharpness(img)  # seen 8 px across through a PSF
    before = measure_extent(img.permute(1, 2, 0).numpy())
    after = measure_extent(far.permute(1, 2, 0).numpy())
    assert abs(after.x - before.x) < 1.5 and abs(after.y - before.y) < 1.5  # it stays where it was
    # a galaxy already smaller than the drawn size is left alone
    assert torch.equal(DistantGalaxy(200.0, 201.0)(img), img)
    # the stages 1-9 preset is unchanged unless asked for
    assert "distant" not in train_components(64) and "distant" in train_components(64, distant_p=0.3)


def test_distant_galaxy_sky_noise_is_opt_in_and_scales_with_snr():
    img = to_tensor_u8(galaxy_image(128, scale_px=8.0, noise=0.0, sky=20.0))

    def sky_rms(snr):
        torch.manual_seed(1)
        out = DistantGalaxy(12.0, 12.001, fill=33.0 / 128, snr=snr)(img).float()
        return float(out[:, :16, :].std())  # a band of sky along the top edge

    quiet, s20, s5 = sky_rms(None), sky_rms((20.0, 20.0)), sky_rms((5.0, 5.0))
    assert quiet < 0.5
    assert 2.0 < s5 / s20 < 6.0 and s20 > 1.0  # sigma = peak / S/N, smoothed a little by the upsizing
