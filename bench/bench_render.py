"""Read + render a 4096x4096 float32 FITS, and re-render its preview after one change.

    .venv/bin/python bench/bench_render.py [--size 4096] [--repeats 5]

Targets (issue 2): read and render with asinh/percentile <= 1.5 s; a preview
re-render after one parameter change on the same field <= 0.15 s.  The FITS is
written to a temporary folder (sky noise plus a few hundred Gaussian blobs), so
the read is from the page cache, not a cold disk.  Also times the one-off
preview downsampling and a three-band field.  Prints medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galaxy_core.display import (  # noqa: E402
    RenderSettings,
    downsample,
    preview_scale,
    render,
)
from galaxy_core.io.load import load_bands, load_field  # noqa: E402

TARGET_FULL_S = 1.5
TARGET_PREVIEW_S = 0.15


def sky(size: int, seed: int) -> np.ndarray:
    """Gaussian sky noise (sigma 1) with 300 Gaussian blobs, float32 (size, size)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 1.0, size=(size, size)).astype(np.float32)
    yy, xx = np.mgrid[-15:16, -15:16]
    for _ in range(300):
        x, y = rng.integers(16, size - 16, size=2)
        sigma, peak = rng.uniform(1.5, 5.0), rng.lognormal(3.0, 1.0)
        data[y - 15:y + 16, x - 15:x + 16] += peak * np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return data


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def verdict(seconds: float, target: float) -> str:
    return f"{seconds:.3f} s (target <= {target} s: {'met' if seconds <= target else 'MISSED'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = RenderSettings(interval="percentile", percent=99.5, stretch="asinh", a=0.1)
    changed = settings.with_(a=0.05)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"band{i}.fits" for i in range(3)]
        for i, path in enumerate(paths):
            fits.PrimaryHDU(sky(args.size, seed=i)).writeto(path)
        print(f"{args.size}x{args.size} float32 FITS ({paths[0].stat().st_size / 1e6:.0f} MB), "
              f"median of {args.repeats} runs")

        field = load_field(paths[0])
        render(field, settings)  # warm-up (imports, page cache)
        read_s = median_time(lambda: load_field(paths[0]), args.repeats)
        render_s = median_time(lambda: render(field, settings), args.repeats)
        full_s = median_time(lambda: render(load_field(paths[0]), settings), args.repeats)
        print(f"  read FITS            {read_s:.3f} s")
        print(f"  render asinh/pct     {render_s:.3f} s")
        print(f"  read + render        {verdict(full_s, TARGET_FULL_S)}")

        factor = preview_scale(field, 1024)
        down_s = median_time(lambda: downsample(field, factor), args.repeats)
        small = downsample(field, factor)
        preview_s = median_time(lambda: render(small, changed), args.repeats)
        print(f"  preview downsample x{factor} (once per field) {down_s:.3f} s")
        print(f"  preview re-render {small.width}x{small.height} after a change "
              f"{verdict(preview_s, TARGET_PREVIEW_S)}")

        rgb_field = load_bands(paths)
        read3_s = median_time(lambda: load_bands(paths), max(1, args.repeats // 2))
        render3_s = median_time(lambda: render(rgb_field, settings), max(1, args.repeats // 2))
        small3 = downsample(rgb_field, factor)
        preview3_s = median_time(lambda: render(small3, changed), args.repeats)
        lupton3_s = median_time(
            lambda: render(small3, changed.with_(rgb_method="lupton")), args.repeats
        )
        print(f"  three bands: read {read3_s:.3f} s, render {render3_s:.3f} s, "
              f"preview re-render {preview3_s:.3f} s, Lupton preview {lupton3_s:.3f} s")


if __name__ == "__main__":
    main()
