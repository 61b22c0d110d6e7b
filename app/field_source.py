"""The sidebar's field chooser: a bundled demo field or uploaded files.

The field on screen is named by a key (``demo:xdf``, ``upload:<digest>:<hdu>``,
``bands:<digests>:<hdu>``) kept in the session and in the page's URL, so a
reload or a shared link finds an uploaded field again while the server still
holds it, even though the browser's upload box comes back empty.  Removing the
file from the upload box forgets it.
"""

from __future__ import annotations

import re

import streamlit as st

from app import caching
from app.caching import LoadedField
from galaxy_core.errors import GalaxyCoreError

SOURCES = {
    "Hubble XDF (demo picture)": "demo:xdf",
    "Synthetic 3-band FITS (demo)": "demo:synthetic",
    "Upload a FITS file or a picture": "upload",
    "Upload three FITS files as R, G, B": "bands",
}
UPLOAD_TYPES = ["fits", "fit", "fts", "fz", "gz", "png", "jpg", "jpeg", "tif", "tiff"]
BANDS = ("R", "G", "B")
#: Session keys of the uploaded field shown for each upload source.
FIELD_OF = {"upload": "field_key:upload", "bands": "field_key:bands"}
_SUFFIXES = re.compile(r"(\.(fits|fit|fts|fz|gz|png|jpe?g|tiff?))+$", re.IGNORECASE)


def file_stem(name: str, fallback: str = "upload") -> str:
    """A file name without its image suffixes (``.fits.gz``, ``.jpg``...), safe in a file name."""
    stem = _SUFFIXES.sub("", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", stem).strip("._")[:80]
    return stem or fallback


def bands_stem(names: list[str]) -> str:
    """The stem of three band files: their common prefix once, then each band's rest
    (``abell_f814w``, ``abell_f606w``, ``abell_f435w`` -> ``abell_f814w+f606w+f435w``)."""
    stems = [file_stem(n, band) for n, band in zip(names, BANDS, strict=True)]
    prefix = stems[0]
    for s in stems[1:]:
        while not s.startswith(prefix):
            prefix = prefix[:-1]
    cut = prefix.rfind("_") + 1 if "_" in prefix else 0
    rests = [s[cut:] or band for s, band in zip(stems, BANDS, strict=True)]
    return (stems[0][:cut] + "+".join(rests))[:120]


def upload_limit_mb() -> int:
    """The server's upload limit per file, MB (``server.maxUploadSize``)."""
    return int(st.get_option("server.maxUploadSize"))


def source_of(field_key: str) -> str:
    """The chooser's source of a field key."""
    return field_key if field_key.startswith("demo:") else field_key.split(":", 1)[0]


def field_picker() -> LoadedField | None:
    """Sidebar widgets choosing the field; None until a file is uploaded.

    Raises GalaxyCoreError when the chosen file cannot be read.
    """
    st.header("1. Field")
    choice = st.radio("Field", list(SOURCES), key="source", label_visibility="collapsed",
                      persist_state="session")
    source = SOURCES[choice]
    if source.startswith("demo:"):
        return caching.demo_field(source.split(":", 1)[1])
    st.caption(f"Up to {upload_limit_mb()} MB per file; FITS (.fits, .fits.gz, .fz), PNG, JPEG "
               "or TIFF. Files stay in this server's memory only; a link to this page opens "
               "them for whoever has it while the server holds them.")
    loaded = _single_upload() if source == "upload" else _band_uploads()
    if loaded is None:
        key = st.session_state.get(FIELD_OF[source])
        if key:
            loaded = caching.known_field(key)
            if loaded is None:
                st.session_state.pop(FIELD_OF[source], None)
                st.warning("The file of this link is no longer in the server's memory: upload it "
                           "again.", icon=":material/hourglass_disabled:")
            else:
                st.caption(f"Showing **{loaded.stem}** (kept by the server); upload a file to "
                           "replace it.")
    return loaded


def _forget(source: str, widget_keys: tuple[str, ...]) -> None:
    """Uploader callback: a file was removed, so the field it gave is no longer shown."""
    if any(st.session_state.get(k) is None for k in widget_keys):
        st.session_state.pop(FIELD_OF[source], None)


def _single_upload() -> LoadedField | None:
    up = st.file_uploader("FITS file or picture", type=UPLOAD_TYPES, key="upload",
                          on_change=_forget, args=("upload", ("upload",)))
    if up is None:
        return None
    data = up.getvalue()
    digest = caching.digest(data)
    hdu = _hdu_choice(digest, data, "hdu")
    stem = file_stem(up.name) + (f"_hdu{hdu}" if hdu else "")
    key = f"upload:{digest}:{hdu if hdu is not None else ''}"
    loaded = caching.uploaded_field(key, data, file_stem(up.name), hdu, stem)
    st.session_state[FIELD_OF["upload"]] = key
    return loaded


def _band_uploads() -> LoadedField | None:
    keys = tuple(f"band_{band}" for band in BANDS)
    files = [st.file_uploader(f"{band} band (FITS)", type=UPLOAD_TYPES, key=k,
                              on_change=_forget, args=("bands", keys))
             for band, k in zip(BANDS, keys, strict=True)]
    if any(f is None for f in files):
        if not st.session_state.get(FIELD_OF["bands"]):
            st.info("Upload one file for each of R, G and B (same size, same grid).")
        return None
    data = tuple(f.getvalue() for f in files)
    names = tuple(file_stem(f.name, band) for f, band in zip(files, BANDS, strict=True))
    digests = "+".join(caching.digest(d) for d in data)
    hdu = _hdu_choice(caching.digest(data[0]), data[0], "bands_hdu")
    key = f"bands:{digests}:{hdu if hdu is not None else ''}"
    loaded = caching.uploaded_bands(key, data, names, hdu, bands_stem([f.name for f in files]))
    st.session_state[FIELD_OF["bands"]] = key
    return loaded


def _hdu_choice(digest: str, data: bytes, widget_key: str) -> int | None:
    """An HDU chooser when a FITS file has several HDUs with images; None for the default."""
    hdus = caching.hdu_list(digest, data)
    usable = [h for h in hdus if h.usable]
    if len(hdus) <= 1:
        return None
    if not usable:
        listed = "; ".join(str(h) for h in hdus)
        raise GalaxyCoreError(f"This FITS file has no 2-D image to show (its HDUs: {listed}).")
    chosen = st.selectbox("HDU", usable, format_func=str, key=f"{widget_key}@{digest}",
                          persist_state="session", help="The image extension to read.")
    return int(chosen.index)
