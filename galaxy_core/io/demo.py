"""Bundled demo fields that work offline.

- ``xdf``: the real Hubble eXtreme Deep Field colour picture shipped in the
  scikit-image wheel (``skimage.data.hubble_deep_field()``, 872x1000, public
  domain, NASA/ESA/STScI).
- ``synthetic``: the deterministic three-band HST-like FITS field of
  :mod:`galaxy_core.io.synthetic` (2048x2048, with a WCS and exact truth).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from galaxy_core.io.synthetic import synthetic_field as _synthetic
from galaxy_core.types import Field

XDF_CREDIT = "NASA, ESA, G. Illingworth, D. Magee, P. Oesch (UCSC), R. Bouwens (Leiden), HUDF09 team"


@lru_cache(maxsize=1)
def xdf_field() -> Field:
    """The Hubble eXtreme Deep Field picture (RGB in [0, 1], no WCS)."""
    from skimage import data

    rgb = data.hubble_deep_field()  # (872, 1000, 3) uint8, read from the installed wheel
    pixels = np.ascontiguousarray(np.moveaxis(rgb, -1, 0), dtype=np.float32) / np.float32(255)
    return Field(
        data=pixels, wcs=None, header={"OBJECT": "Hubble eXtreme Deep Field", "CREDIT": XDF_CREDIT},
        name="hubble_xdf", kind="picture", band_names=("R", "G", "B"),
    )


@lru_cache(maxsize=4)
def synthetic_field(seed: int = 0, size: int = 2048) -> Field:
    """The synthetic three-band FITS demo field (truth: galaxy_core.io.synthetic)."""
    return _synthetic(seed=seed, size=size)[0]


#: Demo fields by the name the app and CLI use.
DEMO_FIELDS: dict[str, Callable[[], Field]] = {
    "xdf": xdf_field,
    "synthetic": synthetic_field,
}
