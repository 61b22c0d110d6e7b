"""The field's size, bands, WCS and header, shown as escaped plain text."""

from __future__ import annotations

import numpy as np
import streamlit as st
from astropy.wcs.utils import proj_plane_pixel_scales

from galaxy_core.types import Field


def wcs_summary(field: Field) -> str:
    """A few lines on the WCS: projection, reference point, pixel scale, centre."""
    wcs = field.wcs
    if wcs is None:
        return "No celestial WCS: positions are in pixels only (RA/Dec columns stay empty)."
    ctype = ", ".join(wcs.wcs.ctype)
    try:
        scale = np.abs(proj_plane_pixel_scales(wcs)) * 3600.0
        scale_text = " x ".join(f"{s:.4f}" for s in scale)
        ra, dec = wcs.pixel_to_world_values((field.width - 1) / 2, (field.height - 1) / 2)
        centre = f"{float(ra) % 360:.6f}, {float(dec):+.6f} deg"
    except Exception:  # a WCS astropy cannot evaluate: show what the header says
        scale_text, centre = "n/a", "n/a"
    return (f"CTYPE {ctype}\nCRVAL {tuple(float(v) for v in wcs.wcs.crval)}\n"
            f"CRPIX {tuple(float(v) for v in wcs.wcs.crpix)}\n"
            f"pixel scale {scale_text} arcsec/px\nfield centre RA, Dec {centre}")


def header_text(field: Field) -> str:
    """The header cards as ``KEY = value`` lines."""
    if not field.header:
        return "(no header)"
    return "\n".join(f"{key:8} = {value}" for key, value in field.header.items())


def field_info(field: Field) -> None:
    """Size, bands, WCS and header; text goes through st.code/st.text, never as HTML."""
    masked = float(np.mean(field.mask)) * 100.0
    st.markdown(f"**{field.width} x {field.height} px**, {field.n_bands} band(s) · kind: {field.kind}"
                f" · masked pixels: {masked:.2f} %")
    st.text("Bands: " + (", ".join(field.band_names) or "(unnamed)"))
    st.markdown("**WCS**")
    st.code(wcs_summary(field), language=None)
    st.markdown("**Header**")
    st.code(header_text(field), language=None, height=360)
