"""Read one 2-D image out of a FITS file (path or bytes) with ``astropy.io.fits``.

What it accepts: plain, gzip-compressed (``.fits.gz``) and tile-compressed
(``.fz``, CompImageHDU) files; integer images with BSCALE/BZERO/BLANK; float
images; cubes whose extra axes have length 1 (squeezed).  Pixels come back as
native-endian float32 with NaN wherever the file has NaN, inf or BLANK (the
project's masked pixels).  The size is checked from the header (NAXISn) before
any pixel is read, and plain files on disk are memory-mapped where astropy can
(scaled integers are read without: astropy cannot scale a memory map).

Hostile files are bounded: HDUs are read one by one only as far as the wanted
one (a name is looked up in all of them, to refuse an ambiguous one), and a
gzip stream is never unpacked past :func:`unpack_limit` bytes (three float32
images of the pixel limit plus headers), so a small ``.fits.gz`` that unpacks
to gigabytes is refused after a bounded amount of work.  Header cards astropy
cannot parse, or bytes that are not ASCII, do not refuse the file: they are
kept as text and reported in :attr:`FitsImage.notes`.

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
#: Unpacked bytes a gzip FITS may hold per allowed pixel: three float32 images of the limit.
UNPACK_BYTES_PER_PIXEL = 12
#: Unpacked bytes allowed for headers on top (1000 header blocks of 2880 bytes).
UNPACK_HEADER_BYTES = 2880 * 1000
#: At most this many notes about odd header cards per image.
_MAX_NOTES = 5


def unpack_limit(max_pixels: int) -> int:
    """Bytes a gzip-compressed FITS may unpack to for a pixel limit of ``max_pixels`` per band."""
    return UNPACK_BYTES_PER_PIXEL * int(max_pixels) + UNPACK_HEADER_BYTES


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
        notes: what was odd but read anyway (header cards kept as text), for the user.
    """

    data: np.ndarray
    wcs: WCS | None
    header: dict[str, str]
    hdu_index: int
    band_name: str
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"FitsImage(shape={self.data.shape}, hdu={self.hdu_index}, "
            f"band={self.band_name!r}, wcs={'yes' if self.wcs is not None else 'no'})"
        )


def list_hdus(source: Source, *, max_pixels: int, label: str | None = None) -> list[HduInfo]:
    """Every HDU of a FITS file (headers only, no pixel is read; a gzip stream is unpacked
    no further than :func:`unpack_limit` of ``max_pixels``)."""
    label = label or _label(source)
    with _open(source, label, max_pixels) as (hdus, _):
        return hdus.infos()


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
        hdu: an index (0-based), an EXTNAME (``"SCI"``, or ``"SCI,2"`` for EXTVER 2;
            refused when several HDUs match), or None for the first HDU whose data
            squeezes to 2-D.
        max_pixels: refuse images with more pixels than this (checked from the header);
            also bounds how far a gzip stream is unpacked (:func:`unpack_limit`).
        label: how messages name the file (default: the file name, or "the upload").
    """
    label = label or _label(source)
    _prescan_primary(source, label, max_pixels)
    with _open(source, label, max_pixels) as (hdus, open_truncated):
        index = _choose(hdus, hdu, label)
        chosen = hdus.get(index)
        shape = _declared_shape(chosen, index, label)
        plane = _checked_plane(shape, index, label, max_pixels)
        if open_truncated or hdus.truncated:
            raise GalaxyCoreError(
                f"{label} is truncated: the file is shorter than its header says "
                "(an incomplete download or copy?)."
            )
        data = _read_pixels(chosen, plane, index, label)
        header, odd_cards = _header_dict(chosen.header)
        notes = _header_notes(label, index, hdus.warned[index], odd_cards)
        wcs = _celestial_wcs(chosen.header, shape, plane)
        return FitsImage(data, wcs, header, index, _band_name(chosen.header), notes)


def _checked_plane(shape: tuple[int, ...], index: int, label: str, max_pixels: int) -> tuple[int, int]:
    """The (H, W) plane of ``shape``, refused when over ``max_pixels``."""
    plane = _plane_shape(shape, index, label)
    n_pixels = math.prod(plane)
    if n_pixels > max_pixels:
        raise GalaxyCoreError(
            f"{label}: HDU {index} is {plane[1]} x {plane[0]} = {pixel_count_text(n_pixels)}, "
            f"more than the limit of {pixel_count_text(max_pixels)}. "
            "Cut out a smaller region first."
        )
    return plane


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
                with gzip.GzipFile(fileobj=io.BytesIO(source)) as gz:
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


class _BoundedGzip(gzip.GzipFile):
    """A gzip stream read for astropy that refuses to unpack past ``limit`` bytes.

    Forward seeks are done here in 1 MiB reads (the standard library's 8 KiB
    steps are several times slower), so every unpacked byte is counted: the
    position may not pass ``limit``, and all bytes unpacked, re-reads after a
    rewind included, may not pass ``4 * limit``.
    """

    def __init__(self, *, limit: int, label: str, **kwargs) -> None:
        super().__init__(mode="rb", **kwargs)
        self._limit, self._label, self._work = limit, label, 0

    def read(self, size: int | None = -1) -> bytes:
        pos = self.tell()
        room = max(self._limit - pos, 0) + 1  # one byte past the limit tells "more"
        data = super().read(room if size is None or size < 0 else min(size, room))
        self._work += len(data)
        if pos + len(data) > self._limit or self._work > 4 * self._limit:
            raise GalaxyCoreError(
                f"{self._label} unpacks to more than {byte_count_text(self._limit)} before "
                "the wanted image ends (a decompression bomb, or a file too large for the "
                "pixel limit). Unpack it and cut out a smaller region first."
            )
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return super().seek(0, io.SEEK_CUR)  # io's own tell() would call our seek()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.tell()
        elif whence != io.SEEK_SET:
            return super().seek(offset, whence)  # from the end: gzip cannot, and says so
        if offset < self.tell():
            super().seek(0)
        while self.tell() < offset and self.read(min(1 << 20, offset - self.tell())):
            pass
        return self.tell()


@contextmanager
def _open(source: Source, label: str, max_pixels: int) -> Iterator[tuple[_Hdus, bool]]:
    """(the file's HDUs, whether astropy found the file truncated when opening it),
    warnings recorded and errors translated to GalaxyCoreError."""
    fileobj = _gzip_stream(source, label, max_pixels)
    if fileobj is None and isinstance(source, bytes | bytearray | memoryview):
        fileobj = io.BytesIO(source)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            target = fileobj if fileobj is not None else str(source)
            hdul = fits.open(target, memmap=None if fileobj is None else False,
                             lazy_load_hdus=True, do_not_scale_image_data=False, uint=True)
    except GalaxyCoreError:
        _close(fileobj)
        raise
    except MemoryError as err:
        _close(fileobj)
        raise GalaxyCoreError(f"{label} is too large to open in memory.") from err
    except Exception as err:
        _close(fileobj)
        raise GalaxyCoreError(
            f"{label} is not a readable FITS file ({_short(err)}). "
            "Accepted: FITS images (.fits, .fit, .fts), gzip-compressed (.fits.gz) "
            "or tile-compressed (.fz)."
        ) from err
    truncated = _mentions_truncation(caught)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield _Hdus(hdul, label, [str(w.message) for w in caught]), truncated
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
        _close(hdul)
        _close(fileobj)


def _gzip_stream(source: Source, label: str, max_pixels: int) -> _BoundedGzip | None:
    """A bounded gzip reader when ``source`` is gzip-compressed, else None."""
    limit = unpack_limit(max_pixels)
    if isinstance(source, bytes | bytearray | memoryview):
        if bytes(source[:2]) != b"\x1f\x8b":
            return None
        return _BoundedGzip(fileobj=io.BytesIO(source), limit=limit, label=label)
    try:
        with open(source, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                return None
    except OSError:
        return None  # astropy will say why it cannot open it
    return _BoundedGzip(filename=str(source), limit=limit, label=label)


def _close(handle) -> None:
    """Close a file or HDU list, ignoring its errors (they must not hide the real one)."""
    if handle is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            handle.close()
        except Exception:
            pass


def _mentions_truncation(caught) -> bool:
    return any("truncated" in str(w.message).lower() for w in caught)


class _Hdus:
    """A file's HDUs, parsed one by one and only as far as asked.

    Attributes:
        warned: per HDU read so far, the messages astropy warned with while parsing its header.
        truncated: whether astropy found the file shorter than a header says on the way.
    """

    def __init__(self, hdul: fits.HDUList, label: str, opening: list[str]) -> None:
        self._hdul, self._label, self._opening = hdul, label, opening  # HDU 0 is read on opening
        self._loaded: list = []
        self._ended = False
        self.warned: list[list[str]] = []
        self.truncated = False

    def get(self, index: int):
        """HDU ``index``, or None when the file has fewer (those before it are parsed)."""
        while len(self._loaded) <= index and not self._ended:
            self._load_next()
        return self._loaded[index] if index < len(self._loaded) else None

    def all(self) -> list:
        """Every HDU of the file."""
        while not self._ended:
            self._load_next()
        return list(self._loaded)

    def infos(self) -> list[HduInfo]:
        return [_info(i, h) for i, h in enumerate(self.all())]

    def listing(self) -> str:
        """Every HDU described in one line, for messages."""
        return "; ".join(str(i) for i in self.infos())

    def _load_next(self) -> None:
        i = len(self._loaded)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                hdu = self._hdul[i]
            except GalaxyCoreError:
                raise
            except IndexError:
                hdu = None
            except Exception as err:
                if i == 0:
                    raise GalaxyCoreError(
                        f"{self._label} is not a readable FITS file: its first header is broken "
                        f"({_short(err)})."
                    ) from err
                hdu = None  # astropy stops at trailing junk after valid HDUs; so do we
        self.truncated = self.truncated or (hdu is not None and _mentions_truncation(caught))
        if hdu is None:
            self._ended = True
            return
        self._loaded.append(hdu)
        self.warned.append((self._opening if i == 0 else []) + [str(w.message) for w in caught])


def _info(index: int, hdu) -> HduInfo:
    name, ver = _name_ver(index, hdu)
    if ver > 1:
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


def _name_ver(index: int, hdu) -> tuple[str, int]:
    """(EXTNAME as given, EXTVER) of an HDU; "PRIMARY" / "HDUn" without a name, version 1 without one."""
    try:
        name = str(hdu.name or "")
    except Exception:  # an EXTNAME astropy cannot parse: the HDU still has its index
        name = ""
    ver = hdu.header.get("EXTVER", 1)
    ver = ver if isinstance(ver, int) and not isinstance(ver, bool) else 1
    return name or ("PRIMARY" if index == 0 else f"HDU{index}"), ver


def _table_shape(hdu) -> tuple[int, ...]:
    rows = hdu.header.get("NAXIS2", 0)
    return (int(rows),) if isinstance(rows, int) else ()


def _squeezes_to_2d(shape: tuple[int, ...]) -> bool:
    try:
        _plane_shape(shape, 0, "")
    except GalaxyCoreError:
        return False
    return True


def _choose(hdus: _Hdus, hdu: int | str | None, label: str) -> int:
    """Index of the HDU to read (see ``read_fits_image``); HDUs after it are not parsed,
    except for a name, which is looked up in all of them."""
    if hdus.get(0) is None:
        raise GalaxyCoreError(f"{label} holds no HDU at all.")
    if hdu is None:
        return _first_usable(hdus, label)
    if isinstance(hdu, bool) or not isinstance(hdu, int | str):
        raise GalaxyCoreError(f"HDU must be an index or a name, not {hdu!r}.")
    index = _by_index(hdus, hdu, label) if isinstance(hdu, int) else _by_name(hdus, hdu, label)
    if _info(index, hdus.get(index)).kind == "table":
        raise GalaxyCoreError(
            f"HDU {index} of {label} is a table, not an image. HDUs: {hdus.listing()}."
        )
    return index


def _first_usable(hdus: _Hdus, label: str) -> int:
    """The first HDU whose image squeezes to 2-D; refused, naming what the file holds, if none."""
    i = 0
    while (h := hdus.get(i)) is not None:
        if _info(i, h).usable:
            return i
        i += 1
    infos = hdus.infos()
    images = [i for i in infos if i.kind in ("image", "compressed image") and i.shape]
    if images:
        _plane_shape(images[0].shape, images[0].index, label)  # raises, naming the shape
    listing = "; ".join(str(i) for i in infos)
    if any(i.kind == "table" for i in infos):
        raise GalaxyCoreError(
            f"{label} holds only tables, no image (HDUs: {listing}). "
            "Open a FITS image instead of a catalogue."
        )
    raise GalaxyCoreError(f"{label} holds no image data (HDUs: {listing}).")


def _by_index(hdus: _Hdus, index: int, label: str) -> int:
    if index < 0 or hdus.get(index) is None:
        n = len(hdus.all())
        raise GalaxyCoreError(
            f"{label} has {n} HDU(s), numbered 0 to {n - 1}; there is no HDU {index}. "
            f"HDUs: {hdus.listing()}."
        )
    return index


def _by_name(hdus: _Hdus, wanted: str, label: str) -> int:
    """The one HDU named ``wanted`` (``NAME`` or ``NAME,VER``, any case); refused when none
    or several match, with the candidates and their indices."""
    name, comma, ver_text = (part.strip() for part in wanted.upper().partition(","))
    ver = _as_int(ver_text) if comma else None
    found = [(i, _name_ver(i, h)) for i, h in enumerate(hdus.all())]
    matches = [(i, (n, v)) for i, (n, v) in found if n.strip().upper() == name
               and (not comma or v == ver)]
    if not matches:
        raise GalaxyCoreError(f"{label} has no HDU named {wanted!r}. HDUs: {hdus.listing()}.")
    if len(matches) > 1:
        listed = ", ".join(f"{n},{v} (HDU {i})" for i, (n, v) in matches)
        raise GalaxyCoreError(
            f"{label} has {len(matches)} HDUs named {wanted!r}: {listed}. Choose one by its "
            "index, or by name and version (NAME,VERSION) where the versions differ."
        )
    return matches[0][0]


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
        blank_mask = _blank_mask(raw, hdu.header)
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
        data[blank_mask.reshape(plane)] = np.nan
    bad = np.isinf(data)
    if bad.any():
        data[bad] = np.nan
    return data


def _blank_mask(data: np.ndarray, header) -> np.ndarray | None:
    """Where integer pixels (as astropy scaled them) hold the BLANK value, or None.

    astropy turns BLANK into NaN when it scales to floats, but keeps integers for
    unsigned data stored with BZERO (uint16 as int16 + 32768): there BLANK is compared
    after the same scaling.
    """
    blank = header.get("BLANK")
    if not np.issubdtype(data.dtype, np.integer) or not isinstance(blank, int):
        return None
    bscale, bzero = header.get("BSCALE", 1), header.get("BZERO", 0)
    if not isinstance(bscale, int | float) or not isinstance(bzero, int | float):
        return None
    return np.asarray(data == blank * bscale + bzero)


def _header_dict(header: fits.Header) -> tuple[dict[str, str], list[str]]:
    """(cards as ``keyword -> value`` strings in file order, COMMENT/HISTORY lines joined;
    the keywords of cards astropy could not parse, kept as their raw text)."""
    out: dict[str, str] = {}
    odd: list[str] = []
    for card in header.cards:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                key = str(card.keyword)
                value = card.value
            text = "" if value is None or type(value).__name__ == "Undefined" else str(value)
        except Exception:  # a malformed card: keep its raw text
            key, text = str(card.image[:8]).strip(), str(card.image[10:]).strip()
            odd.append(key or "(blank keyword)")
        if not key:
            continue
        out[key] = f"{out[key]}\n{text}" if key in out else text
    return out, odd


def _header_notes(label: str, index: int, warned: list[str], odd: list[str]) -> tuple[str, ...]:
    """What the user should know about an image's header: non-ASCII bytes, cards kept as text."""
    notes = []
    if any("non-ascii" in w.lower() for w in warned):
        notes.append(f"{label}: the header of HDU {index} holds bytes that are not ASCII; "
                     "they were read as '?'.")
    if odd:
        shown = ", ".join(odd[:_MAX_NOTES]) + (f" and {len(odd) - _MAX_NOTES} more"
                                                if len(odd) > _MAX_NOTES else "")
        notes.append(f"{label}: header card(s) of HDU {index} that are not valid FITS were "
                     f"kept as raw text: {shown}.")
    return tuple(notes)


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


def byte_count_text(n: int) -> str:
    """A byte count for messages: "805 MB", "4.8 GB" (decimal units)."""
    if n >= 10**9:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.0f} MB" if n >= 10**6 else f"{n:,} bytes"


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
