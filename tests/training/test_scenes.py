"""Detector training scenes: exact truth, the S/N definition of detectable, YOLO labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field
from training.detector.scenes import (
    MIN_SNR,
    SMALL_RECIPE,
    Library,
    Placed,
    SceneRecipe,
    combine_datasets,
    dataset_recipe,
    isolate,
    make_scene,
    random_render_settings,
    render_scene,
    truth_table,
    write_dataset,
    yolo_lines,
)


def _blob(peak: float, sigma: float = 1.5, r: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (peak * np.exp(-(xx**2 + yy**2) / (2 * sigma**2)))[None].astype(np.float32)


def _field(size: int = 64, n_bands: int = 1) -> Field:
    return Field(np.zeros((n_bands, size, size), np.float32))


def test_isophotal_snr_and_detectable_threshold():
    model = _blob(3.0)
    table = truth_table(_field(), [Placed("galaxy", 20, 20, model)])
    iso = model[0] >= 1.0
    expected = model[0][iso].sum() / np.sqrt(iso.sum())
    assert table.snr[0] == pytest.approx(expected, rel=1e-5)
    faint = truth_table(_field(), [Placed("galaxy", 20, 20, _blob(1.2))])
    bright = truth_table(_field(), [Placed("galaxy", 20, 20, _blob(40.0))])
    assert faint.snr[0] < MIN_SNR and not faint.detectable[0]
    assert bright.snr[0] >= MIN_SNR and bright.detectable[0]


def test_three_bands_lower_the_luminance_noise():
    one = truth_table(_field(n_bands=1), [Placed("galaxy", 20, 20, _blob(2.0))])
    three = truth_table(_field(n_bands=3), [Placed("galaxy", 20, 20, np.repeat(_blob(2.0), 3, 0))])
    assert three.snr[0] > 1.5 * one.snr[0]


def test_box_is_the_one_sigma_isophote_and_edge_objects_are_clipped():
    model = _blob(100.0, sigma=2.0)
    iso = model[0] >= 1.0
    rows, cols = np.nonzero(iso)
    table = truth_table(_field(), [Placed("galaxy", 10, 30, model), Placed("galaxy", -8, -8, model)])
    inside, cut = table.iloc[0], table.iloc[1]
    assert inside.x_min == 30 + cols.min() - 0.5 and inside.x_max == 30 + cols.max() + 0.5
    assert inside.y_min == 10 + rows.min() - 0.5 and inside.y_max == 10 + rows.max() + 0.5
    assert inside.x == pytest.approx(38.0) and inside.y == pytest.approx(18.0)
    assert cut.x_min == -0.5 and cut.y_min == -0.5 and cut.x_max < inside.x_max
    assert cut.detectable  # half of a bright object is still detectable


def test_yolo_lines_are_normalised_and_skip_undetectable():
    table = truth_table(_field(), [Placed("galaxy", 20, 20, _blob(50.0)),
                                   Placed("star", 40, 5, _blob(30.0, sigma=1.0)),
                                   Placed("galaxy", 5, 40, _blob(0.5))])
    lines = yolo_lines(table, 64, 64)
    assert len(lines) == 2
    values = np.array([[float(v) for v in line.split()] for line in lines])
    assert values[:, 0].tolist() == [0, 1]
    assert (values[:, 1:] > 0).all() and (values[:, 1:] <= 1).all()
    assert values[0, 1] * 64 - 0.5 == pytest.approx(28.0, abs=1e-3)  # centre of the blob at column 28


def _toy_library() -> Library:
    rng = np.random.default_rng(0)
    stamps = tuple(np.abs(rng.normal(1, 0.3, (3, 20, 30))).astype(np.float32) / 600 for _ in range(4))
    psf = _blob(1.0, sigma=1.0, r=4)[0]
    return Library(stamps, ("a", "b", "c", "d"), ("train", "train", "val", "val"), psf / psf.sum(), ())


def test_scenes_are_reproducible_and_render_under_random_settings():
    lib = _toy_library()
    f1, p1 = make_scene(np.random.default_rng(5), lib, size=96, density=200)
    f2, p2 = make_scene(np.random.default_rng(5), lib, size=96, density=200)
    assert np.array_equal(f1.data, f2.data) and len(p1) == len(p2) > 0
    rng = np.random.default_rng(1)
    for _ in range(25):
        rgb = render_scene(f1, random_render_settings(rng))
        assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8


def _galaxy_sides(recipe: SceneRecipe, n: int = 40) -> tuple[int, list[int]]:
    """Galaxies placed in ``n`` scenes, and each model's longest side (px, PSF padding included)."""
    lib = _toy_library()
    count, sides = 0, []
    for seed in range(n):
        _, placed = make_scene(np.random.default_rng(seed), lib, size=160, recipe=recipe)
        galaxies = [p for p in placed if p.kind == "galaxy"]
        count += len(galaxies)
        sides += [max(p.model.shape[1:]) for p in galaxies]
    return count, sides


def test_small_recipe_places_smaller_objects_more_densely():
    n_std, sides_std = _galaxy_sides(SceneRecipe())
    n_small, sides_small = _galaxy_sides(SMALL_RECIPE)
    assert n_small > 1.5 * n_std
    # the padding of the PSF (toy 9 px or a Gaussian of >= 0.8 px FWHM) is the same in both
    assert min(sides_small) < min(sides_std)
    assert np.mean(np.array(sides_small) <= 12) > 1.5 * np.mean(np.array(sides_std) <= 12)


def test_combined_dataset_lists_every_root_and_rejects_other_folders(tmp_path):
    import yaml

    roots = []
    for name in ("a", "b"):
        for part in ("train", "val"):
            (tmp_path / name / "images" / part).mkdir(parents=True)
        roots.append(tmp_path / name)
    data = yaml.safe_load(combine_datasets(tmp_path / "both.yaml", roots).read_text())
    assert data["train"] == [f"{r}/images/train" for r in roots]
    assert data["val"] == [f"{r}/images/val" for r in roots]
    assert data["names"] == {0: "galaxy", 1: "star"}
    with pytest.raises(GalaxyCoreError, match="not a dataset"):
        combine_datasets(tmp_path / "bad.yaml", [tmp_path / "a", tmp_path])


def test_dataset_records_its_recipe_and_training_refuses_another(tmp_path):
    from training.detector.train import parse_args, train

    write_dataset(tmp_path / "small", _toy_library(), n_train=1, n_val=1, size=64,
                  progress_every=0, recipe=SMALL_RECIPE)
    assert dataset_recipe(tmp_path / "small") == SMALL_RECIPE
    assert dataset_recipe(tmp_path) == SceneRecipe()  # no recipe.json: built before it existed
    with pytest.raises(GalaxyCoreError, match="built with .*not --recipe standard"):
        train(parse_args(["--dataset", str(tmp_path / "small"), "--weights-out", ""]))


def test_isolate_separates_the_central_object_from_its_sky():
    rng = np.random.default_rng(2)
    img = rng.normal(0, 1, (3, 80, 80)).astype(np.float32)
    img[:, 35:45, 35:45] += 50
    img[:, 5:9, 60:64] += 50  # a neighbour that must not be in the stamp
    (stamp,) = isolate(img)
    assert 10 <= stamp.shape[1] <= 16 and 10 <= stamp.shape[2] <= 16
    assert stamp.min() >= 0 and stamp.mean(axis=0).sum() == pytest.approx(1.0, rel=1e-4)


def test_compact_library_round_trip_keeps_stamps_within_half_a_percent(tmp_path):
    from training.detector.scenes import load_library, save_library

    lib = _toy_library()
    save_library(lib, tmp_path / "full.npz")
    save_library(lib, tmp_path / "compact.npz", compact=True)
    back = load_library(tmp_path / "compact.npz")
    assert back.names == lib.names and back.splits == lib.splits
    np.testing.assert_array_equal(back.psf, lib.psf)
    for a, b in zip(lib.stamps, back.stamps, strict=True):
        assert b.shape == a.shape and b.dtype == np.float32
        assert np.abs(a - b).max() <= 0.005 * a.max()
    assert (tmp_path / "compact.npz").stat().st_size < (tmp_path / "full.npz").stat().st_size


def _dataset_bytes(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".yaml"}


def test_parallel_dataset_is_the_same_for_any_number_of_processes(tmp_path):
    from training.detector import scenes as scene_synth

    lib = _toy_library()
    opts = dict(n_train=scene_synth.CHUNK + 3, n_val=2, size=48, seed=4, progress_every=0)
    two = write_dataset(tmp_path / "two", lib, jobs=2, **opts).parent
    three = write_dataset(tmp_path / "three", lib, jobs=3, **opts).parent
    one = write_dataset(tmp_path / "one", lib, jobs=1, **opts).parent
    files = _dataset_bytes(two)
    assert len([f for f in files if f.startswith("labels/train/")]) == scene_synth.CHUNK + 3
    assert files == _dataset_bytes(three)
    assert json.loads((two / "recipe.json").read_text())["streams"] == "one per 100 scenes"
    # one process keeps the single stream that earlier datasets were drawn from
    assert _dataset_bytes(one) != files
