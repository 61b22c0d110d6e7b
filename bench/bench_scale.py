"""How the cost of a field grows with its size: wall time and peak memory of whole CLI processes.

    python bench/bench_scale.py                      # 1, 4, 16, 64 Mpx FITS: sep, YOLO, YOLO + classifier
    python bench/bench_scale.py --sizes 1 4 --picture # also the HST colour picture tiled to those sizes
    python bench/bench_scale.py --mosaic 400          # a 20,000 x 20,000 FITS read window by window

Fields are real HST pixels tiled to size (``bench/fields.py``; made once under
``--work``, default ``cache/bench_scale``).  Each run is one
``python -m galaxy_core detect FIELD --out catalog.csv`` process timed by
``/usr/bin/time -v`` (wall time and maximum resident set size).  The figures
that matter are measured in one run, so they survive a noisy machine: YOLO's
time over sep's on the same field, and YOLO's time per megapixel at each size
over its time per megapixel at 4 Mpx.  Targets (issue "Full Hubble frames and
mosaics"): YOLO time per Mpx constant within 25 % from 4 to 64 Mpx; peak RSS
at most 3 GB at 64 Mpx and for the 400 Mpx mosaic; YOLO at most 3x sep; a
4,096 x 4,096 field with YOLO and the classifier in at most 20 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fields import hst_tile, write_fits_field, write_picture_field  # noqa: E402

RUNS = {"sep": ["--method", "sep", "--no-classify"], "yolo": ["--method", "yolo", "--no-classify"],
        "yolo+classifier": ["--method", "yolo", "--classify"]}


def timed(cmd: list[str], log: Path) -> dict:
    """Wall time (s), peak RSS (GB) and exit status of one process."""
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(ROOT / ".yolo_config")}
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    log.write_text(done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    h, m, s = (float(g or 0) for g in wall.groups())
    return {"seconds": round(h * 3600 + m * 60 + s, 2), "peak_gb": round(int(rss.group(1)) / 2**20, 3),
            "status": done.returncode}


def run_field(path: Path, mpx: float, runs: list[str], work: Path) -> dict:
    """Every run of ``runs`` on one field, with its detections counted from the catalogue."""
    out = {}
    for name in runs:
        catalogue = work / f"{path.stem}.{name}.csv"
        cmd = [sys.executable, "-m", "galaxy_core", "detect", str(path), *RUNS[name], "--out",
               str(catalogue), "-q", "--max-pixels", "1G"]
        row = timed(cmd, work / f"{path.stem}.{name}.time")
        row["detections"] = sum(1 for _ in open(catalogue)) - 1 if catalogue.exists() else None
        row["s_per_mpx"] = round(row["seconds"] / mpx, 3)
        out[name] = row
        print(f"  {path.name} {name:16s} {row['seconds']:8.1f} s {row['peak_gb']:6.2f} GB "
              f"{row['detections']} detections (status {row['status']})", flush=True)
    if "sep" in out and "yolo" in out:
        out["yolo_over_sep"] = round(out["yolo"]["seconds"] / out["sep"]["seconds"], 2)
    return out


def make_fields(sizes: list[float], work: Path, picture: bool) -> list[tuple[Path, float]]:
    tile = hst_tile()
    made = []
    for mpx in sizes:
        side = int(round(math.sqrt(mpx * 1e6)))
        path = work / f"hst_{mpx:g}mpx.fits"
        if not path.exists():
            write_fits_field(path, side, tile=tile)
        made.append((path, side * side / 1e6))
        if picture:
            png = work / f"picture_{mpx:g}mpx.png"
            if not png.exists():
                write_picture_field(png, side)
            made.append((png, side * side / 1e6))
    return made


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="*", type=float, default=[1, 4, 16, 64], help="field sizes, Mpx")
    p.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    p.add_argument("--picture", action="store_true", help="also the tiled colour picture")
    p.add_argument("--mosaic", type=float, default=None, help="a mosaic of this many Mpx (sep and YOLO)")
    p.add_argument("--work", type=Path, default=ROOT / "cache" / "bench_scale")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    fields = make_fields(args.sizes, args.work, args.picture)
    if args.mosaic:
        fields += make_fields([args.mosaic], args.work, False)
    results = {}
    for path, mpx in fields:
        runs = [r for r in args.runs if not (mpx > 100 and r == "yolo+classifier")]
        results[path.name] = {"mpx": mpx, **run_field(path, mpx, runs, args.work)}
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


def report(results: dict) -> None:
    """The table, and the ratios measured in this run."""
    print("\nfield                     Mpx   run               seconds  s/Mpx  peak GB  detections")
    for name, r in results.items():
        for run in RUNS:
            if run in r:
                x = r[run]
                print(f"{name:24s} {r['mpx']:6.1f}  {run:16s} {x['seconds']:8.1f} {x['s_per_mpx']:6.2f} "
                      f"{x['peak_gb']:8.2f}  {x['detections']}")
    fits_rows = {r["mpx"]: r for n, r in results.items() if n.endswith(".fits") and "yolo" in r}
    base = min(fits_rows, key=lambda m: abs(m - 4), default=None)
    if base is not None:
        ref = fits_rows[base]["yolo"]["s_per_mpx"]
        print(f"YOLO s/Mpx relative to {base:g} Mpx: " + ", ".join(
            f"{m:g} Mpx {r['yolo']['s_per_mpx'] / ref:.2f}" for m, r in sorted(fits_rows.items())))
    print("YOLO time over sep time (same field, same run): " + ", ".join(
        f"{n}: {r['yolo_over_sep']}" for n, r in results.items() if "yolo_over_sep" in r))


if __name__ == "__main__":
    main()
