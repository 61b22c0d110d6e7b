"""Shared test helpers: small FITS files and galaxy pictures built in memory, the real data's folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from PIL import Image

from galaxy_core.shipped import REPO_ROOT

#: The real data shared by the project (never copied into the repo).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cli_in_fresh_process(argv: Sequence[str], modules: Sequence[str], *,
                         timeout: float = 180.0) -> tuple[int, dict[str, bool], str]:
    """The command line's ``main(argv)`` run in a new interpreter: its exit code, whether each
    of ``modules`` was imported by then, and the process's stderr (for failure messages)."""
    script = ("import json, sys\n"
              "from galaxy_core.cli import main\n"
              f"code = main({list(argv)!r})\n"
              f"print(json.dumps([code, {{m: m in sys.modules for m in {list(modules)!r}}}]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, done.stderr
    code, imported = json.loads(lines[-1])
    return code, imported, done.stderr


def make_fits_bytes(data: np.ndarray | None, header: dict | None = None, *,
                    extra_hdus: list | None = None) -> bytes:
    """A FITS file as bytes: a primary HDU holding ``data`` (None for none), cards from
    ``header`` and any further HDUs after it."""
    hdu = fits.PrimaryHDU(data)
    for key, value in (header or {}).items():
        hdu.header[key] = value
    buf = io.BytesIO()
    fits.HDUList([hdu, *(extra_hdus or [])]).writeto(buf)
    return buf.getvalue()


def simple_wcs_header(width: int, height: int) -> dict:
    """A valid TAN WCS centred on (RA, Dec) = (150, 2) deg with 0.05 arcsec pixels."""
    return {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
        "CRPIX1": width / 2 + 0.5, "CRPIX2": height / 2 + 0.5,
        "CRVAL1": 150.0, "CRVAL2": 2.0,
        "CDELT1": -0.05 / 3600, "CDELT2": 0.05 / 3600,
        "CUNIT1": "deg", "CUNIT2": "deg",
    }


def make_raw_fits(cards: list[tuple[str, object]], data: bytes = b"") -> bytes:
    """A FITS file written card by card, without astropy's checks (for hostile headers).

    Values are written as given (strings quoted); the header is padded to 2880
    bytes and followed by ``data`` as is (no padding: truncation is up to the caller).
    """
    lines = []
    for key, value in cards:
        if isinstance(value, bool):
            text = "T" if value else "F"
        elif isinstance(value, str):
            text = "'" + value.replace("'", "''").ljust(8) + "'"
        else:
            text = str(value)
        lines.append(f"{key:<8}= {text:>20}".ljust(80)[:80])
    lines.append("END".ljust(80))
    header = "".join(lines).encode("ascii")
    header += b" " * (-len(header) % 2880)
    return header + data


def galaxy_image(size: int, *, scale_px: float, axis_ratio: float = 0.6, angle_deg: float = 30.0,
                 centre: tuple[float, float] | None = None, colour=(1.0, 0.85, 0.6), peak: float = 200.0,
                 sky: float = 12.0, noise: float = 2.0, seed: int = 0) -> np.ndarray:
    """uint8 (size, size, 3): an exponential-profile ellipse of scale length ``scale_px`` on noisy sky."""
    rng = np.random.default_rng(seed)
    cx, cy = centre if centre is not None else ((size - 1) / 2.0, (size - 1) / 2.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    t = np.radians(angle_deg)
    u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
    v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
    r = np.sqrt(u**2 + (v / axis_ratio) ** 2)
    prof = peak * np.exp(-r / scale_px)
    img = sky + prof[..., None] * np.asarray(colour)[None, None, :]
    img = img + rng.normal(0.0, noise, size=img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def fake_data_folder(root: Path) -> Path:
    """A tiny folder laid out like ../shared/data: gz1, empty ngc/interacting tables, grey stars
    and galaxies, and gz2_spiral, all synthetic 48 px images."""
    def save(path: Path, img: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)

    rows = []
    for i in range(24):  # round = Elliptical (CLASS 0), thin = On_Edge (CLASS 3)
        thin = i % 2 == 1
        save(root / "gz1" / "images" / f"{1000 + i}.jpeg",
             galaxy_image(48, scale_px=4.0, axis_ratio=0.2 if thin else 0.9, angle_deg=17.0 * i, seed=i))
        rows.append({"OBJID": str(1000 + i), "CLASS": 3 if thin else 0})
    pd.DataFrame(rows).to_csv(root / "gz1" / "labels.csv", index=False)
    (root / "ngc_sdss").mkdir()
    (root / "ngc_sdss" / "labels.csv").write_text("Name,coarse,Hubble,MajAx,MinAx,PosAng\n")
    (root / "interacting_sdss").mkdir()
    for part in ("train", "valid"):
        (root / "interacting_sdss" / f"{part}.csv").write_text("label1,R.A.,Dec.\n")
    for i in range(12):
        grey = galaxy_image(48, scale_px=1.0, seed=100 + i).mean(axis=2).astype(np.uint8)
        save(root / "star_galaxy_cutouts" / "star" / f"s{i}.jpg", np.repeat(grey[..., None], 3, axis=2))
        save(root / "star_galaxy_cutouts" / "galaxy" / f"g{i}.jpg", galaxy_image(48, scale_px=5.0, seed=200 + i))
    for i in range(20):
        folder = "spirals" if i % 2 else "non_spirals"
        save(root / "gz2_spiral" / folder / f"{5000 + i}.jpg", galaxy_image(48, scale_px=5.0, seed=300 + i))
    return root
