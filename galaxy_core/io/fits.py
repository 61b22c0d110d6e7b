"""Read one 2-D image out of a FITS file (path or bytes) with ``astropy.io.fits``.

What it accepts: plain, gzip-compressed (``.fits.gz``) and tile-compressed
(``.fz``, CompImageHDU) files; integer images with BSCALE/BZERO/BLANK; float
images; cubes whose extra axes have length 1 (squeezed).  Pixels come back as
native-endian float32 with NaN wherever the file has NaN, inf or BLANK (the
project's masked pixels).  The size is checked from the header (NAXISn) before
any pixel is read, and files on disk are memory-mapped where astropy can.

Every failure raises :class:`~galaxy_core.errors.GalaxyCoreError` with a message
that names the file; header values are returned as plain strings and never
interpreted.
"""

from __future__ import annotations

import gzip
import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from galaxy_core.errors import GalaxyCoreError

Source = str | Path | bytes

#: Data types a FITS image HDU may hold (BITPIX); anything else is refused.
_BITPIX = (8, 16, 32, 64, -32, -64)


@dataclass(frozen=True)
class HduInfo:
    """One HDU of a FITS file, for an HDU chooser.

    Attributes:
        index: 0-based position in the file.
        name: EXTNAME (``"PRIMARY"`` for the first), with ``",ver"`` when EXTVER > 1.
        shape: the data shape in numpy order (rows last-but-one), ``()`` when empty.
        kind: ``"image"``, ``"compressed image"``, ``"table"`` or ``"empty"``.
        usable: True when it holds an image that squeezes to 2-D (what this module reads).
    """

    index: int
    name: str
    shape: tuple[int, ...]
    kind: str
    usable: bool

    def __str__(self) -> str:
        if self.kind == "table":
            dims = f"{self.shape[0]} rows" if self.shape else "no rows"
        else:
            dims = "x".join(str(n) for n in reversed(self.shape)) or "no data"
        return f"{self.index}: {self.name} ({self.kind}, {dims})"


@dataclass(frozen=True, eq=False)
class FitsImage:
    """One 2-D image read from a FITS file.

    Attributes:
        data: float32 (H, W), native byte order, NaN where masked.
        wcs: the celestial WCS when the header has a valid one, else None.
        header: header cards as ``keyword -> value`` strings (COMMENT/HISTORY joined).
        hdu_index: which HDU it came from.
        band_name: the filter (FILTER, FILTER1/2 not CLEAR) or "" when the header has none.
    """

    data: np.ndarray
    wcs: WCS | None
    header: dict[str, str]
    hdu_index: int
    band_name: str

    def __repr__(self) -> str:
        return (
            f"FitsImage(shape={self.data.shape}, hdu={self.hdu_index}, "
            f"band={self.band_name!r}, wcs={'yes' if self.wcs is not None else 'no'})"
        )


def list_hdus(source: Source, *, label: str | None = None) -> list[HduInfo]:
    """Every HDU of a FITS file (headers only, no pixel is read)."""
    label = label or _label(source)
    with _open(source, label) as (hdul, _):
        return [_info(i, h) for i, h in enumerate(_iter_hdus(hdul, label))]


def read_fits_image(
    source: Source,
    *,
    hdu: int | str | None = None,
    max_pixels: int,
    label: str | None = None,
) -> FitsImage:
    """The 2-D image of one HDU: the first usable image HDU by default.

    Args:
        source: a path, or the file's bytes (an upload).
        hdu: an index (0-based), an EXTNAME (``"SCI"``, or ``"SCI,2"`` for EXTVER 2),
            or None for the first HDU whose data squeezes to 2-D.
        max_pixels: refuse images with more pixels than this (checked from the header).
        label: how messages name the file (default: the file name, or "the upload").
    """
    label = label or _label(source)
    _prescan_primary(source, label, max_pixels)
    with _open(source, label) as (hdul, truncated):
        hdus = list(_iter_hdus(hdul, label))
        index = _choose(hdus, hdu, label)
        chosen = hdus[index]
        shape = _declared_shape(chosen, index, label)
        plane = _plane_shape(shape, index, label)
        n_pixels = math.prod(plane)
        if n_pixels > max_pixels:
            raise GalaxyCoreError(
                f"{label}: HDU {index} is {plane[1]} x {plane[0]} = {pixel_count_text(n_pixels)}, "
                f"more than the limit of {pixel_count_text(max_pixels)}. "
                "Cut out a smaller region first."
            )
        if truncated:
            raise GalaxyCoreError(
                f"{label} is truncated: the file is shorter than its header says "
                "(an incomplete download or copy?)."
            )
        data = _read_pixels(chosen, plane, index, label)
        header = _header_dict(chosen.header)
        wcs = _celestial_wcs(chosen.header, shape, plane)
        return FitsImage(data, wcs, header, index, _band_name(chosen.header))


def _prescan_primary(source: Source, label: str, max_pixels: int) -> None:
    """Check the primary header's NAXIS cards as text, before astropy sizes the data.

    astropy computes the data size of the first HDU when it opens a file, so an
    absurd NAXISn must be caught here to get a clear message.  Only NAXIS and
    NAXISn are looked at; anything else is left to astropy.
    """
    head = _first_header_bytes(source)
    cards = {}
    for start in range(0, len(head) - 79, 80):
        card = head[start:start + 80].decode("ascii", errors="replace")
        key = card[:8].strip()
        if key == "END":
            break
        if card[8:10] == "= " and (key == "NAXIS" or key.startswith("NAXIS")):
            cards[key] = card[10:].split("/")[0].strip()
    naxis = _as_int(cards.get("NAXIS"))
    if naxis is None:
        return
    if not 0 <= naxis <= 999:
        raise GalaxyCoreError(f"{label}: the header has an invalid NAXIS = {naxis} (0 to 999 allowed).")
    axes = [_as_int(cards.get(f"NAXIS{k}")) for k in range(1, naxis + 1)]
    for k, n in enumerate(axes, start=1):
        if n is None or n < 0:
            raise GalaxyCoreError(
                f"{label}: the header has an invalid NAXIS{k} = {cards.get(f'NAXIS{k}')} "
                "(a whole number >= 0 is needed)."
            )
    if naxis >= 2 and math.prod(axes) > max_pixels:
        dims = " x ".join(str(n) for n in axes)
        raise GalaxyCoreError(
            f"{label} declares an image of {dims} pixels, more than the limit of "
            f"{pixel_count_text(max_pixels)}. Cut out a smaller region first."
        )


def _first_header_bytes(source: Source, max_blocks: int = 36) -> bytes:
    """Up to ``max_blocks`` 2880-byte blocks from the start of the (decompressed) file."""
    limit = 2880 * max_blocks
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            raw = bytes(source[:limit])
            if raw[:2] == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=io.BytesIO(bytes(source))) as gz:
                    raw = gz.read(limit)
            return raw
        with open(source, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(source, "rb") as fh:
            return fh.read(limit)
    except Exception:  # OSError, EOFError, zlib.error: astropy will say so with its own error
        return b""


def _as_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


@contextmanager
def _open(source: Source, label: str) -> Iterator[tuple[fits.HDUList, bool]]:
    """(astropy's HDU list, whether astropy found the file truncated), warnings silenced
    and errors translated to GalaxyCoreError."""
    fileobj = None
    if isinstance(source, bytes | bytearray | memoryview):
        fileobj = io.BytesIO(source)
        if bytes(source[:2]) == b"\x1f\x8b":  # astropy detects gzip by name, bytes have none
            fileobj = gzip.GzipFile(fileobj=fileobj, mode="rb")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            target = fileobj if fileobj is not None else str(source)
            hdul = fits.open(target, memmap=fileobj is None, lazy_load_hdus=True,
                             do_not_scale_image_data=False, uint=True)
    except GalaxyCoreError:
        raise
    except MemoryError as err:
        raise GalaxyCoreError(f"{label} is too large to open in memory.") from err
    except Exception as err:
        raise GalaxyCoreError(
            f"{label} is not a readable FITS file ({_short(err)}). "
            "Accepted: FITS images (.fits, .fit, .fts), gzip-compressed (.fits.gz) "
            "or tile-compressed (.fz)."
        ) from err
    truncated = any("truncated" in str(w.message).lower() for w in caught)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield hdul, truncated
    except GalaxyCoreError:
        raise
    except MemoryError as err:
        raise GalaxyCoreError(f"{label} is too large to read into memory.") from err
    except Exception as err:
        raise GalaxyCoreError(
            f"{label} could not be read: it looks like a FITS file but is damaged "
            f"({_short(err)})."
        ) from err
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                hdul.close()
            except Exception:  # closing a broken file must not hide the real error
                pass


def _iter_hdus(hdul: fits.HDUList, label: str) -> Iterator[fits.hdu.base.ExtensionHDU]:
    """The HDUs one by one (lazily parsed); a corrupt later header ends the file with an error."""
    i = 0
    while True:
        try:
            hdu = hdul[i]
        except IndexError:
            return
        except Exception as err:
            if i == 0:
                raise GalaxyCoreError(
                    f"{label} is not a readable FITS file: its first header is broken "
                    f"({_short(err)})."
                ) from err
            return  # astropy stops at trailing junk after valid HDUs; so do we
        yield hdu
        i += 1


def _info(index: int, hdu) -> HduInfo:
    name = str(hdu.name or ("PRIMARY" if index == 0 else f"HDU{index}"))
    ver = hdu.header.get("EXTVER", 1)
    if isinstance(ver, int) and ver > 1:
        name = f"{name},{ver}"
    if isinstance(hdu, fits.CompImageHDU):
        kind = "compressed image"
    elif isinstance(hdu, fits.TableHDU | fits.BinTableHDU):
        kind = "table"
    elif hdu.is_image:
        kind = "image"
    else:
        kind = "other"
    try:
        shape = tuple(int(n) for n in hdu.shape) if hdu.is_image else _table_shape(hdu)
    except Exception:
        shape = ()
    if kind == "image" and not shape:
        kind = "empty"
    usable = kind in ("image", "compressed image") and _squeezes_to_2d(shape)
    return HduInfo(index, name, shape, kind, usable)


def _table_shape(hdu) -> tuple[int, ...]:
    rows = hdu.header.get("NAXIS2", 0)
    return (int(rows),) if isinstance(rows, int) else ()


def _squeezes_to_2d(shape: tuple[int, ...]) -> bool:
    try:
        _plane_shape(shape, 0, "")
    except GalaxyCoreError:
        return False
    return True


def _choose(hdus: list, hdu: int | str | None, label: str) -> int:
    """Index of the HDU to read (see ``read_fits_image``)."""
    if not hdus:
        raise GalaxyCoreError(f"{label} holds no HDU at all.")
    infos = [_info(i, h) for i, h in enumerate(hdus)]
    listing = "; ".join(str(i) for i in infos)
    if hdu is None:
        for info in infos:
            if info.usable:
                return info.index
        images = [i for i in infos if i.kind in ("image", "compressed image") and i.shape]
        if images:
            _plane_shape(images[0].shape, images[0].index, label)  # raises, naming the shape
        if any(i.kind == "table" for i in infos):
            raise GalaxyCoreError(
                f"{label} holds only tables, no image (HDUs: {listing}). "
                "Open a FITS image instead of a catalogue."
            )
        raise GalaxyCoreError(f"{label} holds no image data (HDUs: {listing}).")
    if isinstance(hdu, bool) or not isinstance(hdu, int | str):
        raise GalaxyCoreError(f"HDU must be an index or a name, not {hdu!r}.")
    if isinstance(hdu, int):
        if not 0 <= hdu < len(hdus):
            raise GalaxyCoreError(
                f"{label} has {len(hdus)} HDU(s), numbered 0 to {len(hdus) - 1}; "
                f"there is no HDU {hdu}. HDUs: {listing}."
            )
        index = hdu
    else:
        wanted = hdu.strip().upper()
        matches = [i.index for i in infos if i.name.upper() == wanted
                   or (i.name.upper() == f"{wanted},1")]
        if not matches and "," not in wanted:
            matches = [i.index for i in infos if i.name.upper().split(",")[0] == wanted]
        if not matches:
            raise GalaxyCoreError(f"{label} has no HDU named {hdu!r}. HDUs: {listing}.")
        index = matches[0]
    info = infos[index]
    if info.kind == "table":
        raise GalaxyCoreError(f"HDU {index} of {label} is a table, not an image. HDUs: {listing}.")
    return index


def _declared_shape(hdu, index: int, label: str) -> tuple[int, ...]:
    """The image shape from the header alone (NAXISn), validated before any data is read."""
    header = hdu.header
    naxis = header.get("NAXIS", 0)
    bitpix = header.get("BITPIX")
    if isinstance(hdu, fits.CompImageHDU):
        naxis = header.get("NAXIS", header.get("ZNAXIS", 0))
    if not isinstance(naxis, int) or not 0 <= naxis <= 999:
        raise GalaxyCoreError(f"{label}: HDU {index} has an invalid NAXIS = {naxis!r}.")
    if bitpix not in _BITPIX:
        raise GalaxyCoreError(
            f"{label}: HDU {index} has an unsupported BITPIX = {bitpix!r} "
            f"(accepted: {', '.join(map(str, _BITPIX))})."
        )
    axes = []
    for k in range(1, naxis + 1):
        n = header.get(f"NAXIS{k}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise GalaxyCoreError(
                f"{label}: HDU {index} has an invalid NAXIS{k} = {n!r} (a whole number >= 0 "
                "is needed)."
            )
        axes.append(n)
    return tuple(reversed(axes))


def _plane_shape(shape: tuple[int, ...], index: int, label: str) -> tuple[int, int]:
    """(H, W) after squeezing length-1 extra axes; anything else is refused."""
    if len(shape) < 2:
        what = "no data" if not shape else f"1-D data of length {shape[0]}"
        raise GalaxyCoreError(
            f"{label}: HDU {index} holds {what}, not a 2-D image."
        )
    if min(shape) == 0:
        raise GalaxyCoreError(
            f"{label}: HDU {index} has an axis of length 0 (shape {_fits_shape(shape)}): "
            "there are no pixels."
        )
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    kept = [int(n) for n in shape if n != 1]
    if len(kept) > 2:
        raise GalaxyCoreError(
            f"{label}: HDU {index} has data of shape {_fits_shape(shape)} ({len(shape)}-D). "
            "Only 2-D images, or cubes whose extra axes have length 1, can be shown; "
            "extract one plane first."
        )
    if len(kept) < 2:  # e.g. 1 x N x 1: keep the two fastest axes
        return int(shape[-2]), int(shape[-1])
    return kept[0], kept[1]


def _read_pixels(hdu, plane: tuple[int, int], index: int, label: str) -> np.ndarray:
    """The pixels as native float32 (H, W) with NaN for NaN, inf and BLANK."""
    try:
        raw = hdu.data
        if raw is None:
            raise GalaxyCoreError(f"{label}: HDU {index} has no pixel data.")
        blank = hdu.header.get("BLANK")
        blank_mask = None
        if np.issubdtype(raw.dtype, np.integer) and isinstance(blank, int):
            blank_mask = np.asarray(raw == blank).reshape(plane)
        data = np.asarray(raw).reshape(plane).astype(np.float32)  # copy, byte-swapped
    except GalaxyCoreError:
        raise
    except MemoryError as err:
        raise GalaxyCoreError(f"{label}: HDU {index} is too large to read into memory.") from err
    except Exception as err:
        raise GalaxyCoreError(
            f"{label}: the pixels of HDU {index} could not be read ({_short(err)}). "
            "The file may be truncated or corrupt."
        ) from err
    if blank_mask is not None and blank_mask.any():
        data[blank_mask] = np.nan
    bad = np.isinf(data)
    if bad.any():
        data[bad] = np.nan
    return data


def _header_dict(header: fits.Header) -> dict[str, str]:
    """Cards as ``keyword -> value`` strings, in file order; COMMENT/HISTORY lines joined."""
    out: dict[str, str] = {}
    for card in header.cards:
        try:
            key = str(card.keyword)
            value = card.value
            text = "" if value is None or type(value).__name__ == "Undefined" else str(value)
        except Exception:  # a malformed card: keep its raw text
            key, text = str(card.image[:8]).strip(), str(card.image[10:]).strip()
        if not key:
            continue
        out[key] = f"{out[key]}\n{text}" if key in out else text
    return out


def _celestial_wcs(header: fits.Header, shape: tuple[int, ...], plane: tuple[int, int]) -> WCS | None:
    """The header's celestial WCS on the 2-D plane, or None when it is absent or unusable."""
    if len(shape) > 2 and shape[-2:] != plane:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header, naxis=2, fix=True)
            if not wcs.has_celestial:
                return None
            cel = wcs.celestial
            if cel.naxis != 2 or cel.pixel_n_dim != 2:
                return None
            cel.pixel_shape = (plane[1], plane[0])
            sky = cel.pixel_to_world((plane[1] - 1) / 2, (plane[0] - 1) / 2)
            if not (np.isfinite(sky.spherical.lon.deg) and np.isfinite(sky.spherical.lat.deg)):
                return None
            return cel
    except Exception:  # an invalid WCS is not an error: the field works without one
        return None


def _band_name(header: fits.Header) -> str:
    for key in ("FILTER", "FILTER1", "FILTER2", "FILTNAM1", "BAND"):
        value = header.get(key)
        if isinstance(value, str) and value.strip() and not value.upper().startswith("CLEAR"):
            return value.strip()
    return ""


def pixel_count_text(n: int) -> str:
    """A pixel count for messages: "12.6 megapixels", or "9,999 pixels" when small."""
    return f"{n / 1e6:.1f} megapixels" if n >= 100_000 else f"{n:,} pixels"


def _fits_shape(shape: tuple[int, ...]) -> str:
    """A numpy shape written the FITS way (NAXIS1 x NAXIS2 x ...)."""
    return " x ".join(str(n) for n in reversed(shape))


def _label(source: Source) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return "The uploaded file"
    return f"'{Path(source).name}'"


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]
