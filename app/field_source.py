"""The sidebar's field chooser: a bundled demo field or uploaded files."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import caching
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.types import Field

SOURCES = {
    "Hubble XDF (demo picture)": "demo:xdf",
    "Synthetic 3-band FITS (demo)": "demo:synthetic",
    "Upload a FITS file or a picture": "upload",
    "Upload three FITS files as R, G, B": "bands",
}
UPLOAD_TYPES = ["fits", "fit", "fts", "fz", "gz", "png", "jpg", "jpeg", "tif", "tiff"]
BANDS = ("R", "G", "B")


@dataclass(frozen=True, eq=False)
class LoadedField:
    """A field and the key the caches know it by."""

    key: str
    field: Field

    def __repr__(self) -> str:
        f = self.field
        return f"LoadedField({self.key!r}, {f.name!r}, {f.n_bands}x{f.height}x{f.width})"


def upload_limit_mb() -> int:
    """The server's upload limit per file, MB (``server.maxUploadSize``)."""
    return int(st.get_option("server.maxUploadSize"))


def field_picker() -> LoadedField | None:
    """Sidebar widgets choosing the field; None until a file is uploaded.

    Raises GalaxyCoreError when the chosen file cannot be read.
    """
    st.sidebar.header("1. Field")
    choice = st.sidebar.radio("Field", list(SOURCES), key="source", label_visibility="collapsed")
    source = SOURCES[choice]
    if source.startswith("demo:"):
        name = source.split(":", 1)[1]
        return LoadedField(source, caching.demo_field(name))
    st.sidebar.caption(f"Up to {upload_limit_mb()} MB per file; FITS (.fits, .fits.gz, .fz), PNG, "
                       "JPEG or TIFF. Files stay in this server's memory only.")
    if source == "upload":
        return _single_upload()
    return _band_uploads()


def _single_upload() -> LoadedField | None:
    up = st.sidebar.file_uploader("FITS file or picture", type=UPLOAD_TYPES, key="upload")
    if up is None:
        return None
    data = up.getvalue()
    key = caching.digest(data)
    hdu = _hdu_choice(key, data, "hdu")
    name = up.name.split(".")[0] or "upload"
    return LoadedField(f"upload:{key}:{hdu}", caching.uploaded_field(key, data, name, hdu))


def _band_uploads() -> LoadedField | None:
    files = [st.sidebar.file_uploader(f"{band} band (FITS)", type=UPLOAD_TYPES, key=f"band_{band}")
             for band in BANDS]
    if any(f is None for f in files):
        st.sidebar.info("Upload one file for each of R, G and B (same size, same grid).")
        return None
    data = tuple(f.getvalue() for f in files)
    names = tuple(f.name.split(".")[0] or band for f, band in zip(files, BANDS, strict=True))
    key = "+".join(caching.digest(d) for d in data)
    hdu = _hdu_choice(caching.digest(data[0]), data[0], "bands_hdu")
    field = caching.uploaded_bands(key, data, names, hdu)
    return LoadedField(f"bands:{key}:{hdu}", field)


def _hdu_choice(key: str, data: bytes, widget_key: str) -> int | None:
    """An HDU chooser when a FITS file has several HDUs with images; None for the default."""
    hdus = caching.hdu_list(key, data)
    usable = [h for h in hdus if h.usable]
    if len(hdus) <= 1:
        return None
    if not usable:
        listed = "; ".join(str(h) for h in hdus)
        raise GalaxyCoreError(f"This FITS file has no 2-D image to show (its HDUs: {listed}).")
    chosen = st.sidebar.selectbox("HDU", usable, format_func=str, key=f"{widget_key}@{key}",
                                  help="The image extension to read.")
    return int(chosen.index)
