"""The one entry point for reading fields: ``load_field`` and ``load_bands``.

The format is recognised from the file's first bytes (its *magic*), never from
its name: ``SIMPLE  =`` is FITS, ``1f 8b`` gzip (a ``.fits.gz`` when a FITS
file is inside), then PNG, JPEG and TIFF signatures.  Everything a user can get
wrong raises :class:`~galaxy_core.errors.GalaxyCoreError` with a message naming
the file, what is wrong and what is accepted.

Size limit: every reader takes ``max_pixels`` (pixels per band), checked from
the header or the picture's size before any pixel is read; it also bounds how
far a gzip-compressed FITS is unpacked (:func:`galaxy_core.io.fits.unpack_limit`).
Its default, ``MAX_PIXELS`` = 64 megapixels per band (8192 x 8192), is the
app's (uploads): a band is float32, so that is 256 MB per band and 768 MB for
three, plus about as much again for rendering; more would not fit one app
session on a laptop or the 8 GB of a small server.  The command line sets its
own (``--max-pixels``).

What was odd but read anyway (header cards kept as raw text, non-ASCII bytes)
is appended to ``notes`` when the caller passes a list, for it to show.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.fits import HduInfo, list_hdus, pixel_count_text, read_fits_image
from galaxy_core.io.mosaic import LazyField, open_lazy_field
from galaxy_core.io.picture import read_picture
from galaxy_core.types import Field

#: Default pixel-count limit per band (see the module docstring for why).
MAX_PIXELS = 64 * 1024 * 1024

Source = str | Path | bytes

ACCEPTED = "FITS (.fits, .fits.gz, .fz), PNG, JPEG or TIFF"

_FITS_MAGIC = b"SIMPLE  ="
_GZIP_MAGIC = b"\x1f\x8b"
_PICTURE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_OTHER_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive; unpack it first"),
    (b"BZh", "a bzip2 archive; unpack it first"),
    (b"%PDF", "a PDF document"),
    (b"GIF8", "a GIF picture"),
    (b"RIFF", "a RIFF (WebP/AVI) file"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x93NUMPY", "a NumPy array file"),
)
_FITS_SUFFIXES = re.compile(r"(\.(fits|fit|fts|fz|gz|png|jpe?g|tiff?))+$", re.IGNORECASE)


def load_field(
    source: Source,
    *,
    name: str | None = None,
    hdu: int | str | None = None,
    max_pixels: int = MAX_PIXELS,
    notes: list[str] | None = None,
) -> Field:
    """Read a FITS file or a picture into a Field.

    Args:
        source: a path, or the file's bytes (an upload).
        name: the Field's name; default the file name without its suffixes
            (``"upload"`` for bytes).
        hdu: FITS only: HDU index or EXTNAME; default the first 2-D image.
        max_pixels: refuse larger images (pixels per band).
        notes: when given, what was odd but read anyway is appended to it (one line each).
    """
    with _user_errors(source):
        head, label = _head(source)
        name = name or _default_name(source)
        kind = _sniff(head, label)
        if kind == "fits":
            image = read_fits_image(source, hdu=hdu, max_pixels=max_pixels, label=label)
            if notes is not None:
                notes.extend(image.notes)
            band = image.band_name or name
            return Field(data=image.data[None], wcs=image.wcs, header=image.header, name=name,
                         kind="fits", band_names=(band,))
        if hdu is not None:
            raise GalaxyCoreError(
                f"{label} is a {kind} picture; an HDU can only be chosen in FITS files."
            )
        return read_picture(source, name=name, max_pixels=max_pixels, label=label)


def load_bands(
    sources: Sequence[Source],
    *,
    names: Sequence[str] | None = None,
    hdu: int | str | None = None,
    max_pixels: int = MAX_PIXELS,
    notes: list[str] | None = None,
) -> Field:
    """Three one-band files as the R, G, B bands of one field (WCS and header from the first).

    Args:
        sources: three paths or byte strings, in R, G, B order.
        names: a name for each band (default: its filter, else its file name).
        hdu: the HDU to read in each file (default: each file's first 2-D image).
        max_pixels: refuse larger images (pixels per band).
        notes: when given, what was odd but read anyway is appended to it, band by band.
    """
    if isinstance(sources, str | bytes | Path) or len(sources) != 3:
        got = 1 if isinstance(sources, str | bytes | Path) else len(sources)
        raise GalaxyCoreError(f"Three files are needed for the R, G and B bands; got {got}.")
    if names is not None and len(names) != 3:
        raise GalaxyCoreError(f"Three band names are needed; got {len(names)}.")
    labels = [
        f"{colour} band" + (f" {_describe(s)}" if isinstance(s, str | Path) else "")
        for colour, s in zip("RGB", sources, strict=True)
    ]
    fields = []
    for source, colour in zip(sources, "RGB", strict=True):
        band_notes: list[str] = []
        try:
            fields.append(load_field(source, hdu=hdu, max_pixels=max_pixels, notes=band_notes))
        except GalaxyCoreError as err:
            raise GalaxyCoreError(f"{colour} band: {err}") from err
        if notes is not None:
            notes.extend(f"{colour} band: {note}" for note in band_notes)
    for f, label in zip(fields, labels, strict=True):
        if f.n_bands != 1:
            raise GalaxyCoreError(
                f"The {label} is a colour picture; each of the three bands must be a one-band "
                "(FITS or grey) image."
            )
        _check_some_finite(f, label)
    shapes = [(f.height, f.width) for f in fields]
    if len(set(shapes)) != 1:
        described = ", ".join(
            f"{lab} is {w} x {h}" for lab, (h, w) in zip(labels, shapes, strict=True)
        )
        raise GalaxyCoreError(
            f"The three bands must have the same size in pixels: {described}. "
            "Reproject them onto one grid first."
        )
    check_same_grid([f.wcs for f in fields], labels, height=shapes[0][0], width=shapes[0][1])
    kinds = {f.kind for f in fields}
    data = np.concatenate([f.data for f in fields], axis=0)
    band_names = tuple(names) if names is not None else tuple(
        f.band_names[0] if f.band_names else f.name for f in fields
    )
    first = fields[0]
    return Field(data=data, wcs=first.wcs, header=first.header, name=first.name,
                 kind="fits" if "fits" in kinds else "picture", band_names=band_names)


def _check_some_finite(band: Field, label: str) -> None:
    """Refuse a one-band field without a finite pixel, naming its band, file and filter."""
    data = band.data[0]
    rows = max(1, 4_000_000 // max(band.width, 1))  # look 4 Mpx at a time: stops at once if any
    for start in range(0, band.height, rows):
        if np.isfinite(data[start:start + rows]).any():
            return
    band_name = band.band_names[0] if band.band_names else ""
    filt = f" ({band_name})" if band_name and band_name != band.name else ""
    raise GalaxyCoreError(
        f"The {label}{filt} has no finite pixels (all NaN or inf): nothing to show in that "
        "colour. Check the file for that band."
    )


#: Largest offset (R-band px) between the bands' grids that load_bands accepts.
MAX_GRID_OFFSET_PX = 0.5


def check_same_grid(wcss: Sequence, labels: Sequence[str], *, height: int, width: int,
                    tolerance_px: float = MAX_GRID_OFFSET_PX) -> None:
    """Refuse bands whose WCSs put the same pixel at different places on the sky.

    Each band's corners and centre are taken to the sky with its own WCS and back
    into the first band's pixels; more than ``tolerance_px`` away means the bands
    are not on one pixel grid (another pointing, rotation or scale), and stacking
    them would smear every colour.  Bands without a celestial WCS cannot be
    checked and pass.
    """
    first = wcss[0]
    if first is None or not first.has_celestial:
        return
    xs = np.array([0.0, width - 1.0, 0.0, width - 1.0, (width - 1) / 2])
    ys = np.array([0.0, 0.0, height - 1.0, height - 1.0, (height - 1) / 2])
    for wcs, label in zip(wcss[1:], labels[1:], strict=True):
        if wcs is None or not wcs.has_celestial:
            continue
        with np.errstate(all="ignore"):
            try:
                ra, dec = wcs.celestial.pixel_to_world_values(xs, ys)
                x0, y0 = first.celestial.world_to_pixel_values(ra, dec)
            except Exception:  # a WCS that cannot map these pixels: nothing to compare
                continue
        offset = np.hypot(np.asarray(x0) - xs, np.asarray(y0) - ys)
        if not np.all(np.isfinite(offset)):
            continue
        if offset.max() > tolerance_px:
            raise GalaxyCoreError(
                f"The bands are not on one pixel grid: by their WCS, pixels of the {label} lie up "
                f"to {offset.max():.1f} px from the same pixels of the {labels[0]}. "
                "Reproject them onto one grid first (for example with the reproject package)."
            )


#: Above this many bytes of float32 pixels (all bands), an uncompressed FITS field is not read
#: whole but window by window (:class:`~galaxy_core.io.mosaic.LazyField`).
HOLD_BYTES = 512 * 2**20


def open_field(paths: Sequence[str | Path], *, hdu: int | str | None = None,
               max_pixels: int = MAX_PIXELS, notes: list[str] | None = None,
               hold_bytes: int = HOLD_BYTES) -> Field | LazyField:
    """One file, or three FITS as R, G, B: read whole, or, for an uncompressed FITS field of
    more than ``hold_bytes`` (float32, all bands), opened to be read window by window.

    The pixel limit ``max_pixels`` (per band) applies either way.
    """
    paths = [Path(p) for p in paths]
    lazy = lazy_if_large(paths, hdu, hold_bytes)
    if lazy is None:
        if len(paths) == 3:
            return load_bands(paths, hdu=hdu, max_pixels=max_pixels, notes=notes)
        return load_field(paths[0], hdu=hdu, max_pixels=max_pixels, notes=notes)
    if lazy.height * lazy.width > max_pixels:
        raise GalaxyCoreError(
            f"{_describe(paths[0])} is {lazy.width} x {lazy.height} = "
            f"{pixel_count_text(lazy.height * lazy.width)}, more than the limit of "
            f"{pixel_count_text(max_pixels)}. Raise --max-pixels or cut out a smaller region.")
    return lazy


def lazy_if_large(paths: Sequence[Path], hdu, hold_bytes: int) -> LazyField | None:
    """A LazyField of uncompressed FITS files holding more than ``hold_bytes``, else None."""
    for path in paths:
        if not path.is_file():
            return None
        with path.open("rb") as fh:
            if not fh.read(len(_FITS_MAGIC)).startswith(_FITS_MAGIC):
                return None
    try:
        lazy = open_lazy_field(paths, hdu=hdu, name=_default_name(paths[0]))
    except GalaxyCoreError:
        return None  # compressed, odd or broken: the whole-field reader says what is wrong
    return lazy if lazy.height * lazy.width * lazy.n_bands * 4 > hold_bytes else None


def hdus_of(source: Source, *, max_pixels: int = MAX_PIXELS) -> list[HduInfo]:
    """The HDUs of a FITS file for a chooser; [] for a picture.  ``max_pixels`` bounds how
    far a gzip-compressed file is unpacked to list them."""
    with _user_errors(source):
        head, label = _head(source)
        if _sniff(head, label) != "fits":
            return []
        return list_hdus(source, max_pixels=max_pixels, label=label)


@contextmanager
def _user_errors(source: object) -> Iterator[None]:
    """The edge of the core: anything but GalaxyCoreError raised inside becomes one."""
    try:
        yield
    except GalaxyCoreError:
        raise
    except MemoryError as err:
        raise GalaxyCoreError(f"{_describe(source)} is too large to read into memory.") from err
    except Exception as err:
        detail = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise GalaxyCoreError(
            f"{_describe(source)} could not be read ({detail.strip()[:200]}); "
            f"accepted are {ACCEPTED}."
        ) from err


def _head(source: Source) -> tuple[bytes, str]:
    """The first bytes of the file (decompressed when gzip) and how messages name it."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source[:64])
        label = "The uploaded file"
        if not data:
            raise GalaxyCoreError("The uploaded file is empty (0 bytes).")
    elif isinstance(source, str | Path):
        path = Path(source)
        label = _describe(source)
        if not path.exists():
            raise GalaxyCoreError(f"{label} does not exist (looked for {path}).")
        if path.is_dir():
            raise GalaxyCoreError(f"{label} is a directory, not a file; name a file inside it.")
        if not path.is_file():
            raise GalaxyCoreError(
                f"{label} is not a regular file (a pipe, socket or device); name a FITS file "
                "or a picture."
            )
        try:
            with path.open("rb") as fh:
                data = fh.read(64)
        except OSError as err:
            raise GalaxyCoreError(f"{label} could not be opened ({err.strerror}).") from err
        if not data:
            raise GalaxyCoreError(f"{label} is empty (0 bytes).")
    else:
        raise GalaxyCoreError(
            f"A field must be given as a file path or the file's bytes, not {type(source).__name__}."
        )
    if data.startswith(_GZIP_MAGIC):
        data = _gunzip_head(source, label)
    return data, label


def _describe(source: object) -> str:
    """How messages name a file: its name (shortened past 60 characters), or "The uploaded file"."""
    if isinstance(source, str | Path):
        name = Path(source).name
        return f"'{name[:40]}...{name[-17:]}'" if len(name) > 60 else f"'{name}'"
    return "The uploaded file"


def _gunzip_head(source: Source, label: str) -> bytes:
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            with gzip.GzipFile(fileobj=io.BytesIO(source)) as gz:
                inner = gz.read(64)
        else:
            with gzip.open(source, "rb") as gz:
                inner = gz.read(64)
    except Exception as err:  # OSError, EOFError, zlib.error: all mean a broken stream
        raise GalaxyCoreError(
            f"{label} is gzip-compressed but could not be decompressed ({err}); "
            "it may be truncated or corrupt."
        ) from err
    if not inner.startswith(_FITS_MAGIC):
        raise GalaxyCoreError(
            f"{label} is gzip-compressed but holds no FITS file; accepted are {ACCEPTED}."
        )
    return inner


def _sniff(head: bytes, label: str) -> str:
    """``"fits"``, ``"PNG"``, ``"JPEG"`` or ``"TIFF"`` from the magic bytes."""
    if head.startswith(_FITS_MAGIC):
        return "fits"
    for magic, kind in _PICTURE_MAGIC:
        if head.startswith(magic):
            return kind
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            raise GalaxyCoreError(f"{label} is {what}; accepted are {ACCEPTED}.")
    if _looks_like_text(head):
        raise GalaxyCoreError(
            f"{label} is a text file, not an image; accepted are {ACCEPTED} "
            "(the file name's suffix does not matter, its content does)."
        )
    raise GalaxyCoreError(
        f"{label} is not in a format this tool reads (it does not start like FITS, PNG, "
        f"JPEG or TIFF); accepted are {ACCEPTED}."
    )


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="ignore")
    return bool(text) and all(c.isprintable() or c in "\r\n\t" for c in text)


def _default_name(source: Source) -> str:
    if isinstance(source, str | Path):
        stem = _FITS_SUFFIXES.sub("", Path(source).name)
        return stem or Path(source).name
    return "upload"
