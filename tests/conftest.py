"""Shared test helpers: small FITS files built in memory."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

#: The real data shared by the project (never copied into the repo).
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


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


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test is skipped when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


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
