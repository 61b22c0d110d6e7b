"""Survey mode on Dask, measured: throughput, a real cluster, a mosaic across workers, a killed worker.

    python bench/bench_batch.py                        # everything, 16 fields of 2048 x 2048
    python bench/bench_batch.py --skip mosaic kill     # only throughput and the real cluster
    python bench/bench_batch.py --mosaic-side 16000    # the mosaic section's size

Sections (each prints its figures):

- ``throughput``: 16 fields of real HST pixels (``bench/fields.py``, a different
  packing of the stamps each) through ``batch`` with 1 and with 2 workers, and
  as 16 separate ``detect`` processes: fields per minute and the speed-ups,
  measured in this run (targets: 2 workers >= 1.7x 1 worker; 1 worker at least
  as fast as the separate processes).
- ``cluster``: the same fields through a ``dask scheduler`` and two ``dask worker``
  processes started here on 127.0.0.1 (stopped by PID): the same catalogue as
  the LocalCluster run; then through one such worker, so that the speed-up per
  core is measured with each worker on one thread (a LocalCluster of 1 worker
  gives its worker both cores' threads).
- ``mosaic``: one mosaic split into windows across 2 workers, and on 1: peak
  RSS of every worker process (sampled every 0.5 s), and the share of the
  1-worker run's boxes matched at IoU >= 0.9 (target: 3 GB, 99.5 %).
- ``kill``: a worker process killed mid-run; the run must finish with every
  field present once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fields import hst_tile, write_fits_field  # noqa: E402

ENV = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(ROOT / ".yolo_config")}
CLI = [sys.executable, "-m", "galaxy_core"]


def make_fields(work: Path, n: int, side: int) -> list[Path]:
    """``n`` FITS fields of real HST pixels, each its own packing of the stamps."""
    paths = []
    for k in range(n):
        path = work / f"field_{side}_{k:02d}.fits"
        if not path.exists():
            write_fits_field(path, side, tile=hst_tile(side, seed=k))
        paths.append(path)
    return paths


class RssWatch:
    """Peak RSS (GB) of the processes a predicate picks, sampled every 0.5 s while it runs."""

    def __init__(self, pick) -> None:
        import psutil

        self.psutil, self.pick, self.peaks = psutil, pick, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in self.psutil.process_iter(["pid", "cmdline", "memory_info"]):
                try:
                    if self.pick(proc.info["cmdline"] or []):
                        rss = proc.info["memory_info"].rss / 2**30
                        self.peaks[proc.info["pid"]] = max(self.peaks.get(proc.info["pid"], 0.0), rss)
                except (self.psutil.Error, TypeError):
                    continue
            self._stop.wait(0.5)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def is_worker(cmdline: list[str]) -> bool:
    """A Dask worker process (a LocalCluster's spawned one, or ``dask worker``)."""
    text = " ".join(cmdline)
    return "multiprocessing" in text and "spawn" in text or "dask worker" in text or "dask-worker" in text


def batch(fields: list[Path], out: Path, *extra: str) -> tuple[float, subprocess.CompletedProcess]:
    """One ``batch`` process: its wall time, s."""
    for leftover in (out, out.with_suffix(".summary.csv")):
        leftover.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run([*CLI, "batch", *map(str, fields), "--out", str(out), "--no-resume", "-q",
                           *extra], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-2000:])
    return time.perf_counter() - start, done


def throughput(fields: list[Path], work: Path) -> dict:
    """Fields per minute on 1 and 2 workers, and as separate detect processes."""
    one, _ = batch(fields, work / "one.parquet", "--workers", "1")
    two, _ = batch(fields, work / "two.parquet", "--workers", "2")
    start = time.perf_counter()
    for k, path in enumerate(fields):
        subprocess.run([*CLI, "detect", str(path), "--out", str(work / f"single_{k}.csv"), "-q"],
                       cwd=ROOT, env=ENV, check=True, capture_output=True)
    separate = time.perf_counter() - start
    n = len(fields)
    out = {"fields": n, "one_worker_s": round(one, 1), "two_workers_s": round(two, 1),
           "separate_processes_s": round(separate, 1),
           "fields_per_min": {"1 worker": round(60 * n / one, 2), "2 workers": round(60 * n / two, 2),
                              "separate": round(60 * n / separate, 2)},
           "speedup_2_over_1": round(one / two, 2), "one_worker_over_separate": round(separate / one, 2)}
    print("throughput:", json.dumps(out), flush=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_run(fields: list[Path], out: Path, workers: int) -> float:
    """The fields through ``dask scheduler`` + ``workers`` one-thread ``dask worker`` processes: s."""
    port = free_port()
    dask = str(Path(sys.executable).with_name("dask"))
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        procs += [subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                    "--host", "127.0.0.1", "--no-dashboard"], cwd=ROOT,
                                   env={**ENV, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        seconds, _ = batch(fields, out, "--scheduler", f"tcp://127.0.0.1:{port}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    return seconds


def real_cluster(fields: list[Path], work: Path) -> dict:
    """The fields through a real scheduler and two one-thread workers, against LocalCluster; and
    through one one-thread worker, for the speed-up per core (each worker on a core of its own)."""
    seconds = cluster_run(fields, work / "cluster.parquet", 2)
    one_core = cluster_run(fields, work / "cluster_one.parquet", 1)
    same = _same(pd.read_parquet(work / "cluster.parquet"), pd.read_parquet(work / "two.parquet"))
    out = {"seconds": round(seconds, 1), "same_catalogue_as_local_cluster": same,
           "one_worker_one_thread_s": round(one_core, 1),
           "speedup_2_over_1_one_thread_each": round(one_core / seconds, 2)}
    print("real cluster:", json.dumps(out), flush=True)
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = ["field", "id", "x", "y", "score", "label"]
    return len(a) == len(b) and bool(np.allclose(a[["x", "y", "score"]], b[["x", "y", "score"]], atol=1e-6)) \
        and a[cols[:2] + ["label"]].equals(b[cols[:2] + ["label"]])


def mosaic(work: Path, side: int) -> dict:
    """A mosaic across 2 workers and on 1: worker peak RSS and the catalogues' agreement."""
    from galaxy_core.catalog.matching import match_boxes

    path = work / f"mosaic_{side}.fits"
    if not path.exists():
        write_fits_field(path, side)
    runs = {}
    for workers in (2, 1):
        with RssWatch(is_worker) as watch:
            seconds, _ = batch([path], work / f"mosaic_{workers}.parquet", "--workers", str(workers),
                               "--no-classify", "--method", "yolo")
        runs[workers] = {"seconds": round(seconds, 1),
                         "worker_peak_gb": round(max(watch.peaks.values(), default=0.0), 2)}
    a, b = (pd.read_parquet(work / f"mosaic_{w}.parquet") for w in (2, 1))
    box = ["x_min", "y_min", "x_max", "y_max"]
    found = match_boxes(a[box].to_numpy(), a["score"].to_numpy(), b[box].to_numpy(), min_iou=0.9)
    out = {"side": side, "runs": runs, "detections": {"2 workers": len(a), "1 worker": len(b)},
           "matched_iou_0.9": round(float((found >= 0).mean()), 4) if len(a) else None}
    print("mosaic:", json.dumps(out))
    return out


def kill(fields: list[Path], work: Path) -> dict:
    """Kill one worker process a while into a 2-worker run; every field must be there once."""
    import psutil

    out_path = work / "killed.parquet"
    out_path.unlink(missing_ok=True)
    proc = subprocess.Popen([*CLI, "batch", *map(str, fields), "--out", str(out_path), "--workers", "2",
                             "--no-resume", "-q"], cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(5)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if is_worker(p.cmdline())]
        if len(workers) >= 2 and time.monotonic() > deadline - 570:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
    proc.wait(timeout=1800)
    df = pd.read_parquet(out_path)
    summary = pd.read_csv(out_path.with_suffix(".summary.csv"))
    out = {"killed_pid": killed, "status": proc.returncode, "fields_ok": int((summary["status"] == "ok").sum()),
           "fields": len(fields), "duplicate_rows": int(df.duplicated(["field", "id"]).sum())}
    print("kill:", json.dumps(out))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fields", type=int, default=16)
    p.add_argument("--side", type=int, default=2048, help="side of each field, px")
    p.add_argument("--mosaic-side", type=int, default=16000)
    p.add_argument("--skip", nargs="*", default=[], choices=["throughput", "cluster", "mosaic", "kill"])
    p.add_argument("--work", type=Path, default=ROOT / "cache" / "bench_batch")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    fields = make_fields(args.work, args.fields, args.side)
    results = {}
    if "throughput" not in args.skip:
        results["throughput"] = throughput(fields, args.work)
    if "cluster" not in args.skip:
        results["cluster"] = real_cluster(fields, args.work)
    if "mosaic" not in args.skip:
        results["mosaic"] = mosaic(args.work, args.mosaic_side)
    if "kill" not in args.skip:
        results["kill"] = kill(fields, args.work)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
