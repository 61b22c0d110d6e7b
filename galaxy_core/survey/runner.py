"""A batch on Dask: a LocalCluster it starts (and stops), or a scheduler that is already running.

Fields go out as tasks; each finished field is written as a part at once
(:mod:`galaxy_core.survey.parts`), so a run killed halfway loses nothing it
finished.  A mosaic runs as its window tasks, then its classification tasks
(:mod:`galaxy_core.survey.work`).  A field that fails is recorded with its
message and the others go on; a worker that dies has its tasks run again by
Dask.

>>> report = run_batch(specs, BatchSettings(RunSettings()), Path("cat.parquet"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galaxy_core.catalog.provenance import run_provenance
from galaxy_core.errors import GalaxyCoreError
from galaxy_core.survey import work
from galaxy_core.survey.parts import PartStore, merged, write_catalogue, write_summary
from galaxy_core.survey.specs import FieldSpec
from galaxy_core.survey.work import BatchSettings, FieldResult

#: How long a scheduler named with --scheduler has to answer, s.
CONNECT_TIMEOUT_S = 10


@dataclass
class BatchReport:
    """What a batch did: its fields' results (in the order given) and where it wrote."""

    results: list[FieldResult]
    out: Path
    summary: Path
    resumed: int
    seconds: float

    @property
    def failed(self) -> list[FieldResult]:
        return [r for r in self.results if r.status != "ok"]

    @property
    def detections(self) -> int:
        return sum(len(r.rows) for r in self.results if r.status == "ok")


@contextmanager
def connect(*, workers: int | None = None, scheduler: str | None = None,
            log: Callable[[str], None] = print) -> Iterator:
    """A Dask client: of the scheduler at ``scheduler`` (left running), or of a LocalCluster of
    ``workers`` processes on 127.0.0.1 (default: one per core), closed at the end."""
    from dask.distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise GalaxyCoreError(f"No Dask scheduler answered at {scheduler} within "
                                  f"{CONNECT_TIMEOUT_S} s ({type(err).__name__}).") from err
        try:
            yield client
        finally:
            client.close()
        return
    with local_cluster(workers or os.cpu_count() or 1) as cluster, Client(cluster) as client:
        yield client


@contextmanager
def local_cluster(workers: int):
    """A LocalCluster of ``workers`` processes, one task at a time each, sharing the cores' threads."""
    import dask
    from dask.distributed import LocalCluster

    threads = str(max(1, (os.cpu_count() or 1) // workers))
    environ = {k: threads for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=_dashboard(),
                               silence_logs=logging.ERROR)
    try:
        yield cluster
    finally:
        cluster.close()


def _dashboard() -> str | None:
    """A free dashboard port when the dashboard's library (bokeh) is installed, else none."""
    import importlib.util

    return ":0" if importlib.util.find_spec("bokeh") else None


def run_batch(specs: Sequence[FieldSpec], settings: BatchSettings, out: Path, *,
              workers: int | None = None, scheduler: str | None = None, resume: bool = True,
              progress: Callable[[float, str], None] | None = None,
              log: Callable[[str], None] = print) -> BatchReport:
    """Every field of ``specs`` through the pipeline on Dask, one catalogue at ``out``."""
    start = time.perf_counter()
    store = PartStore(out, settings.digest())
    store.acquire()
    try:
        store.prepare(resume=resume)
        done = {s: store.done(s) for s in specs}
        todo = [s for s in specs if done[s] is None]
        if len(todo) < len(specs):
            log(f"resuming: {len(specs) - len(todo)} of {len(specs)} fields are done already")
        if todo:
            with connect(workers=workers, scheduler=scheduler, log=log) as client:
                _say_where(client, log)
                done.update(Driver(client, settings, store, progress, len(specs) - len(todo),
                                   len(specs)).run(todo))
        results = [done[s] for s in specs]
        write_catalogue(merged(results), out, batch_provenance(settings, specs))
        summary = write_summary(results, out)
        if all(r.status == "ok" for r in results):
            store.clear()
    finally:
        store.release()
    return BatchReport(results, Path(out), summary, len(specs) - len(todo), time.perf_counter() - start)


def _say_where(client, log: Callable[[str], None]) -> None:
    info = client.scheduler_info()
    log(f"Dask: {len(info.get('workers', {}))} workers at {info.get('address', '?')}")
    if "dashboard" in info.get("services", {}):
        log(f"Dask dashboard: {client.dashboard_link}")


def batch_provenance(settings: BatchSettings, specs: Sequence[FieldSpec]) -> dict:
    """The single-field provenance keywords of the batch's settings, for the file's metadata."""
    from galaxy_core.types import Field

    placeholder = Field(np.zeros((1, 1, 1), np.float32), name=f"{len(specs)} fields")
    meta = run_provenance(placeholder, settings.render_settings(placeholder), settings.run)
    meta["NFIELDS"] = len(specs)
    meta["RENDER"] = ("each field's own default" if not settings.render
                      else ", ".join(f"{k}={v}" for k, v in settings.render))
    return meta


@dataclass
class _Mosaic:
    """A mosaic on its way: its plan, and its windows' results as they come."""

    plan: work.MosaicPlan
    found: dict = field(default_factory=dict)
    detections: list = field(default_factory=list)
    classified: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)


class Driver:
    """Submits the fields' tasks, follows them as they finish and saves each finished field."""

    def __init__(self, client, settings: BatchSettings, store: PartStore,
                 progress: Callable[[float, str], None] | None, done: int, total: int) -> None:
        from dask.distributed import as_completed

        self.client, self.settings, self.store = client, settings, store
        self.progress, self.done, self.total = progress, done, total
        self.pending: dict = {}
        self.queue = as_completed()
        self.results: dict[FieldSpec, FieldResult] = {}
        self.found = 0

    def run(self, specs: Sequence[FieldSpec]) -> dict[FieldSpec, FieldResult]:
        for spec in specs:
            self._start(spec)
        for future in self.queue:
            spec, step = self.pending.pop(future)
            if spec in self.results:
                continue  # an earlier task of this field failed
            try:
                value = future.result()
            except Exception as err:  # a worker that kept dying, or an unexpected failure
                self._finish(spec, work.failed(spec, f"failed on its worker ({type(err).__name__}: {err})"))
                continue
            step(spec, value)
        return self.results

    def _submit(self, spec: FieldSpec, step, fn, *args) -> None:
        future = self.client.submit(fn, *args, pure=False)
        self.pending[future] = (spec, step)
        self.queue.add(future)

    def _start(self, spec: FieldSpec) -> None:
        try:
            lazy = work.mosaic_of(spec, self.settings)
            if lazy is None:
                self._submit(spec, self._whole_done, work.run_field, spec, self.settings)
                return
            mosaic = _Mosaic(work.plan_mosaic(spec, lazy, self.settings))
        except GalaxyCoreError as err:
            self._finish(spec, work.failed(spec, str(err)))
            return
        self._start_mosaic(spec, mosaic)

    def _start_mosaic(self, spec: FieldSpec, mosaic: _Mosaic) -> None:
        plan = mosaic.plan
        for k in range(len(plan.bands)):
            self._submit(spec, self._found(mosaic, k), work.detect_window, plan, self.settings, k)
        if plan.method == "yolo" or self.settings.run.classifies:
            self._submit(spec, self._found(mosaic, "coarse"), work.detect_coarse, plan, self.settings)

    def _whole_done(self, spec: FieldSpec, result: FieldResult) -> None:
        self._finish(spec, result)

    def _found(self, mosaic: _Mosaic, k):
        def step(spec: FieldSpec, value) -> None:
            mosaic.found[k] = value
            expected = len(mosaic.plan.bands) + int(mosaic.plan.method == "yolo" or self.settings.run.classifies)
            self._tick(f"{spec.label}: window {len(mosaic.found)} of {expected}")
            if len(mosaic.found) == expected:
                self._detected(spec, mosaic)
        return step

    def _detected(self, spec: FieldSpec, mosaic: _Mosaic) -> None:
        plan = mosaic.plan
        coarse, sky = mosaic.found.get("coarse", (None, None))
        windows = [mosaic.found[k] for k in range(len(plan.bands))]
        try:
            mosaic.detections = work.finish_mosaic(plan, self.settings, windows, coarse)
        except GalaxyCoreError as err:
            self._finish(spec, work.failed(spec, str(err), time.perf_counter() - mosaic.started))
            return
        if not (self.settings.run.classifies and mosaic.detections):
            self._mosaic_done(spec, mosaic)
            return
        window = work.window_of(plan, mosaic.detections)
        others = work.mosaic_boxes(mosaic.detections)
        for k in np.unique(window):
            chosen = [d for d, w in zip(mosaic.detections, window, strict=True) if w == k]
            self._submit(spec, self._classified(mosaic, int(k), len(np.unique(window))),
                         work.classify_window, plan, self.settings, sky, chosen, others)

    def _classified(self, mosaic: _Mosaic, k: int, expected: int):
        def step(spec: FieldSpec, value) -> None:
            mosaic.classified[k] = value
            if len(mosaic.classified) == expected:
                by_id = {d.id: d for part in mosaic.classified.values() for d in part}
                mosaic.detections = [by_id[d.id] for d in mosaic.detections]
                self._mosaic_done(spec, mosaic)
        return step

    def _mosaic_done(self, spec: FieldSpec, mosaic: _Mosaic) -> None:
        rows = work.catalogue_rows(mosaic.detections, spec, work.window_of(mosaic.plan, mosaic.detections))
        self._finish(spec, FieldResult(spec.label, spec.hdu, "ok", rows,
                                       time.perf_counter() - mosaic.started, "",
                                       len(mosaic.plan.bands)))

    def _finish(self, spec: FieldSpec, result: FieldResult) -> None:
        self.results[spec] = result
        self.store.save(spec, result)
        self.done += 1
        self.found += len(result.rows)
        self._tick(f"{spec.label}: {result.status}")

    def _tick(self, message: str) -> None:
        if self.progress:
            self.progress(self.done / self.total,
                          f"{self.done} of {self.total} fields, {self.found} detections; {message}")
