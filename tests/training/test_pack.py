"""The portable pack of framed training images, and training from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.morphology.framing import FramingSettings
from tests.support import fake_data_folder, galaxy_image
from training.classifier.pack import (
    FramedPack,
    decode_images,
    encode_images,
    read_pack,
    write_pack,
)
from training.classifier.train import get_args_parser, main


def _pack(n: int = 6, size: int = 40) -> FramedPack:
    images = np.stack([galaxy_image(size, scale_px=2.0 + i, angle_deg=25.0 * i, seed=i) for i in range(n)])
    items = pd.DataFrame({"source": ["gz1"] * n, "name": [f"g{i}" for i in range(n)],
                          "label": ["Elliptical"] * n, "y": [2] * (n - 1) + [-1],
                          "split": ["train", "val"] * (n // 2), "set": ["labelled"] * (n - 1) + ["grey"]})
    return FramedPack(images=images, items=items, framing=FramingSettings(fill=0.55), split_seed=7)


def test_encoded_images_decode_close_to_the_originals():
    images = _pack().images
    blob, offsets = encode_images(images)
    assert offsets[0] == 0 and offsets[-1] == len(blob) and np.all(np.diff(offsets) > 0)
    assert len(blob) < images.nbytes / 3  # compressed
    back = decode_images(blob, offsets)
    assert back.shape == images.shape and back.dtype == np.uint8
    err = np.abs(back.astype(int) - images.astype(int))
    assert err.mean() < 3.0  # of 255: lossy, but far below the images' own sky noise and signal


def test_pack_round_trip_keeps_items_framing_and_split_seed(tmp_path):
    pack = _pack()
    size = write_pack(tmp_path / "p.npz", pack)
    assert size == (tmp_path / "p.npz").stat().st_size
    assert not list(tmp_path.glob("*.tmp"))
    back = read_pack(tmp_path / "p.npz")
    pd.testing.assert_frame_equal(back.items, pack.items, check_dtype=False)
    assert back.items["y"].dtype.kind == "i" and back.items["y"].tolist()[-1] == -1
    assert back.framing == pack.framing and back.split_seed == 7
    assert back.images.shape == pack.images.shape


def test_bad_packs_are_clear_errors(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(GalaxyCoreError, match="cannot read"):
        read_pack(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", meta=np.array('{"format": "something else"}'))
    with pytest.raises(GalaxyCoreError, match="not a classifier pack"):
        read_pack(tmp_path / "other.npz")
    pack = _pack()
    with pytest.raises(GalaxyCoreError, match="items but"):
        write_pack(tmp_path / "p.npz", FramedPack(pack.images[:3], pack.items, pack.framing, 1))
    with pytest.raises(GalaxyCoreError, match="columns"):
        write_pack(tmp_path / "p.npz", FramedPack(pack.images, pack.items.drop(columns="set"), pack.framing, 1))


@pytest.mark.slow
def test_training_from_a_pack_uses_the_same_items_as_the_data_folder(tmp_path):
    data = fake_data_folder(tmp_path / "data")
    common = ["--no-field-stars", "--not-star-galaxies", "--gz2-two-way", "--cache-dir", str(tmp_path / "cache"),
              "--size", "32", "--batch-size", "8"]
    pack_path = tmp_path / "pack.npz"
    assert main(get_args_parser().parse_args(["--data", str(data), *common, "--write-pack", str(pack_path)])) == {}
    pack = read_pack(pack_path)
    assert pack.images.shape[1:] == (64, 64, 3)  # the cached side, 2 x --size
    assert pack.items["set"].value_counts().to_dict() == {"labelled": 36, "gz2": 20, "grey": 12}

    def run(source: list[str], out: str, *extra: str) -> dict:
        args = get_args_parser().parse_args([*source, *common, "--out", str(tmp_path / out), "--epochs", "2", *extra])
        main(args)
        return torch.load(tmp_path / out, weights_only=True)

    from_data = run(["--data", str(data)], "a.pt")
    from_pack = run(["--pack", str(pack_path)], "b.pt", "--model-ema-decay", "0.9", "--eval-every", "2")
    assert from_pack["recipe"]["counts"] == from_data["recipe"]["counts"]
    assert from_pack["recipe"]["args"]["pack"] == str(pack_path)
    # --eval-every 2: only the last epoch is validated; with EMA the raw weights' accuracy is logged too
    assert [row["epoch"] for row in from_pack["history"]] == [1]
    assert 0.0 <= from_pack["history"][-1]["raw_val_acc"] <= 1.0
    with pytest.raises(GalaxyCoreError, match="framed with"):
        main(get_args_parser().parse_args(["--pack", str(pack_path), *common, "--fill", "0.5", "--out", ""]))
    with pytest.raises(GalaxyCoreError, match="px images"):
        main(get_args_parser().parse_args(["--pack", str(pack_path), *common, "--cache-size", "48", "--out", ""]))
