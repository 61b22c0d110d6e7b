"""Which fields a batch names: files, globs, a text file of paths (``@list.txt``), or three
FITS as the R, G, B bands of one field (``r.fits,g.fits,b.fits``).

>>> FieldSpec(("r.fits", "g.fits", "b.fits")).label
'r.fits,g.fits,b.fits'
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from galaxy_core.errors import GalaxyCoreError


@dataclass(frozen=True)
class FieldSpec:
    """One field of a batch: one file, or three as R, G, B; and the HDU to read (None: the first image).

    Attributes:
        paths: the file or files, as given (relative paths stay relative).
        hdu: HDU index or name, or None.
    """

    paths: tuple[str, ...]
    hdu: int | str | None = None

    @property
    def label(self) -> str:
        """How the catalogue's ``field`` column names it."""
        return ",".join(self.paths)

    def key(self, settings_digest: str) -> str:
        """A file-name-safe key of this field under one run's settings (its part file's name)."""
        text = f"{self.label}|{self.hdu}|{settings_digest}"
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def expand_fields(items: Sequence[str], *, hdu: int | str | None = None) -> list[FieldSpec]:
    """The fields ``items`` name, in order, each once.

    An item is a path, a glob (``data/*.fits``), ``@list.txt`` (one item per line,
    ``#`` comments), or three comma-separated paths (R, G, B).  Every file must
    exist; a glob must match something.
    """
    specs: list[FieldSpec] = []
    for item in items:
        for entry in _entries(item):
            parts = [p.strip() for p in entry.split(",")]
            if len(parts) not in (1, 3) or not all(parts):
                raise GalaxyCoreError(f"{entry!r}: give one file, or three as R,G,B separated by commas.")
            for paths in _globbed(parts):
                spec = FieldSpec(tuple(paths), hdu)
                if spec not in specs:
                    specs.append(spec)
    if not specs:
        raise GalaxyCoreError("No field to process: give files, globs or @list.txt.")
    return specs


def _entries(item: str) -> list[str]:
    """The item itself, or the lines of the list file it names with ``@``."""
    if not item.startswith("@"):
        return [item]
    path = Path(item[1:])
    if not path.is_file():
        raise GalaxyCoreError(f"No such list of fields: {path}")
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def _globbed(parts: list[str]) -> list[list[str]]:
    """The field(s) of one entry: a glob expands to one field per match (single files only)."""
    if len(parts) == 1 and glob.has_magic(parts[0]):
        matches = sorted(glob.glob(parts[0]))
        if not matches:
            raise GalaxyCoreError(f"No file matches {parts[0]!r}.")
        return [[m] for m in matches]
    for p in parts:
        path = Path(p)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise GalaxyCoreError(f"{p} {what}: a field must be a file.")
    return [parts]
