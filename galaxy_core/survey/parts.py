"""Nothing lost, nothing repeated: a part file per finished field, resume, the lock, the merge.

Beside a batch's output ``OUT`` lie ``OUT.parts/`` (one Parquet part and one
JSON status per field, written atomically as each field finishes, and
``run.json`` with the digest of the run's settings) and, while a run writes,
``OUT.lock`` (its process id and host).  A run started again with the same
``OUT`` and settings skips the fields whose part is there; a second run
writing the same ``OUT`` at the same time is refused.  When every field has
worked, the parts are merged into ``OUT`` and removed.

Formats by suffix: ``.parquet`` (pyarrow; the provenance keywords in the schema
metadata under ``galaxy_core``), ``.ecsv`` and ``.fits`` (astropy, units on
pixel and sky columns, keywords in the header) or ``.csv``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
from pathlib import Path

import pandas as pd

from galaxy_core.catalog.table import UNITS
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.io.atomic import atomic_write
from galaxy_core.survey.specs import FieldSpec
from galaxy_core.survey.work import FieldResult, catalogue_rows

#: Catalogue formats of a batch, by suffix.
FORMATS = {".parquet": "parquet", ".ecsv": "ecsv", ".fits": "fits", ".csv": "csv"}
SUMMARY_COLUMNS = ("field", "hdu", "status", "detections", "seconds", "windows", "message")


class PartStore:
    """The parts folder and the lock of one output file (see the module docstring)."""

    def __init__(self, out: Path, digest: str) -> None:
        self.out, self.digest = Path(out), digest
        self.dir = self.out.with_name(self.out.name + ".parts")
        self.lock = self.out.with_name(self.out.name + ".lock")

    def acquire(self) -> None:
        """Take the output's lock, or refuse when another live run holds it."""
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._lock_is_live():
                    raise GalaxyCoreError(
                        f"Another run is writing {self.out} ({self.lock.read_text().strip()}); "
                        "wait for it, or choose another --out.") from None
                self.lock.unlink(missing_ok=True)  # its run died: take over
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            return
        raise GalaxyCoreError(f"Could not lock {self.out} ({self.lock}).")

    def _lock_is_live(self) -> bool:
        try:
            pid, host = self.lock.read_text().split()
        except (OSError, ValueError):
            return False
        if host != socket.gethostname():
            return True  # another machine's run: assume it is alive
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def release(self) -> None:
        self.lock.unlink(missing_ok=True)

    def prepare(self, *, resume: bool) -> None:
        """Make the parts folder for this run's settings; without ``resume``, forget old parts."""
        run_file = self.dir / "run.json"
        if self.dir.exists() and not resume:
            shutil.rmtree(self.dir)
        if run_file.exists():
            old = json.loads(run_file.read_text()).get("digest")
            if old != self.digest:
                raise GalaxyCoreError(
                    f"{self.dir} holds parts of a run with other settings or weights; finish it "
                    "with those, or start over with --no-resume (or another --out).")
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(run_file) as fh:
            fh.write(json.dumps({"digest": self.digest}).encode())

    def _paths(self, spec: FieldSpec) -> tuple[Path, Path]:
        key = spec.key(self.digest)
        return self.dir / f"{key}.parquet", self.dir / f"{key}.json"

    def done(self, spec: FieldSpec) -> FieldResult | None:
        """The field's finished result, when a part holds it (failed fields are not done)."""
        rows_path, status_path = self._paths(spec)
        if not (rows_path.exists() and status_path.exists()):
            return None
        status = json.loads(status_path.read_text())
        if status.get("status") != "ok":
            return None
        return FieldResult(spec.label, spec.hdu, "ok", pd.read_parquet(rows_path),
                           float(status["seconds"]), status.get("message", ""), int(status["windows"]))

    def save(self, spec: FieldSpec, result: FieldResult) -> None:
        """Write the field's part (rows first, then its status), each atomically."""
        rows_path, status_path = self._paths(spec)
        if result.status == "ok":
            buf = io.BytesIO()
            result.rows.to_parquet(buf, index=False)
            with atomic_write(rows_path) as fh:
                fh.write(buf.getvalue())
        status = {"status": result.status, "seconds": result.seconds, "message": result.message,
                  "windows": result.windows, "detections": len(result.rows)}
        with atomic_write(status_path) as fh:
            fh.write(json.dumps(status).encode())

    def clear(self) -> None:
        """Remove the parts (once merged)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def summary_row(result: FieldResult) -> dict:
    """A row of the summary table."""
    return {"field": result.label, "hdu": "" if result.hdu is None else str(result.hdu),
            "status": result.status, "detections": len(result.rows) if result.status == "ok" else 0,
            "seconds": round(result.seconds, 3), "windows": result.windows, "message": result.message}


def merged(results: list[FieldResult]) -> pd.DataFrame:
    """The fields' rows in one catalogue, in the fields' order."""
    frames = [r.rows for r in results if r.status == "ok"]
    if not frames:
        return catalogue_rows([], FieldSpec(("",)))
    return pd.concat(frames, ignore_index=True)


def write_catalogue(df: pd.DataFrame, path: Path, meta: dict) -> None:
    """The batch's catalogue in the format ``path``'s suffix names, written atomically."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise GalaxyCoreError(f"Cannot tell the catalogue format of {Path(path).name!r}: use "
                              f"{', '.join(FORMATS)}.")
    buf = io.BytesIO()
    if fmt == "parquet":
        _parquet(df, buf, meta)
    elif fmt == "csv":
        buf.write(df.to_csv(index=False).encode())
    else:
        from astropy.table import Table

        table = Table.from_pandas(df)
        for name, unit in UNITS.items():
            table[name].unit = unit
        table.meta.update({k[:8].upper(): v for k, v in meta.items()})
        if fmt == "ecsv":
            text = io.StringIO()
            table.write(text, format="ascii.ecsv")
            buf.write(text.getvalue().encode())
        else:
            table.write(buf, format="fits")
    with atomic_write(path) as fh:
        fh.write(buf.getvalue())


def _parquet(df: pd.DataFrame, buf: io.BytesIO, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    extra = {b"galaxy_core": json.dumps(meta).encode(), b"galaxy_core.units": json.dumps(UNITS).encode()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, buf)


def summary_path(out: Path) -> Path:
    """Where the per-field summary goes: ``OUT`` with ``.summary.csv`` for its suffix."""
    return Path(out).with_suffix(".summary.csv")


def write_summary(results: list[FieldResult], out: Path) -> Path:
    """The per-field summary table (field, status, detections, seconds, windows, message)."""
    path = summary_path(out)
    table = pd.DataFrame([summary_row(r) for r in results], columns=list(SUMMARY_COLUMNS))
    with atomic_write(path) as fh:
        fh.write(table.to_csv(index=False).encode())
    return path
