"""Model runs off the page's thread: one bounded queue of jobs shared by every session.

A page never waits for a model.  It submits a job (``RunQueue.submit``) and
draws what the job has so far; a small fragment polls the job and redraws the
page when there is more.  Jobs are keyed by what they compute, so sessions
asking for the same run share one job.  At most ``workers`` jobs run at once
(at most the machine's cores; by default one core is left to serve pages),
the rest wait in order and each watcher can be told its place.  A job nobody
watches any more (its sessions moved on or closed) is dropped before it
starts, or stopped at its next progress report.

Nothing here imports Streamlit: the queue is tested on its own.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("galaxy_app")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
#: A watcher not heard from for this long (s) no longer counts (its page was closed).
ORPHAN_S = 45.0
#: Finished jobs stay this long (s) so their watchers can collect the result or the error.
KEEP_FINISHED_S = 300.0
#: While idle, memory freed by closed sessions is handed back about this often (s).
IDLE_S = 30.0


class RunCancelled(Exception):
    """Raised inside a job's work when nobody wants its result any more."""


def default_workers() -> int:
    """Workers for this machine: ``GALAXY_APP_WORKERS``, else one fewer than the cores (at least 1),
    never more than the cores."""
    cores = os.cpu_count() or 1
    wanted = os.environ.get("GALAXY_APP_WORKERS")
    n = int(wanted) if wanted and wanted.isdigit() else cores - 1
    return max(1, min(cores, n))


@dataclass(eq=False)
class Job:
    """One queued or running computation and what it has reported.

    Attributes:
        key: what it computes (equal keys share one job).
        estimate_s: its expected duration, s.
        state: ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``.
        fraction, message: its last progress report.
        partial: the last partial result it reported; ``version`` counts them.
        result, error: the outcome once finished.
    """

    key: Hashable
    estimate_s: float = 0.0
    state: str = QUEUED
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    fraction: float = 0.0
    message: str = "Waiting for a free worker"
    partial: Any = None
    version: int = 0
    result: Any = None
    error: BaseException | None = None
    watchers: dict[str, float] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    samples: deque = field(default_factory=lambda: deque(maxlen=64), repr=False)

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished (or ``timeout`` s); whether it did."""
        return self.done.wait(timeout)

    def report(self, fraction: float, message: str) -> None:
        """Progress from the work; raises :class:`RunCancelled` once nobody wants the job."""
        self.fraction, self.message = min(max(float(fraction), 0.0), 1.0), message
        self.samples.append((time.monotonic(), self.fraction))
        if self.cancel.is_set():
            raise RunCancelled(self.key)

    def publish(self, partial: Any) -> None:
        """A partial result from the work (same cancellation rule as :meth:`report`)."""
        self.partial = partial
        self.version += 1
        if self.cancel.is_set():
            raise RunCancelled(self.key)

    def elapsed_s(self) -> float:
        """Seconds it has been running (0 while queued)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def left_s(self, window_s: float = 20.0) -> float:
        """Expected seconds until it finishes: its estimate less its running time, or, when
        longer, what its progress over the last ``window_s`` seconds says (at least 1)."""
        if not self.active:
            return 0.0
        left = max(1.0, self.estimate_s - self.elapsed_s())
        if self.samples:
            now, (t1, f1) = time.monotonic(), self.samples[-1]
            older = [(t, f) for t, f in self.samples if now - t <= window_s and f < f1]
            if older and t1 > older[0][0]:
                rate = (f1 - older[0][1]) / (t1 - older[0][0])
                left = max(left, (1.0 - f1) / rate)
        return left


class RunQueue:
    """A FIFO of jobs run by ``workers`` daemon threads; thread-safe."""

    def __init__(self, workers: int | None = None, *, orphan_s: float = ORPHAN_S,
                 keep_finished_s: float = KEEP_FINISHED_S,
                 on_idle: Callable[[], None] | None = None) -> None:
        self.workers = max(1, workers or default_workers())
        self.orphan_s, self.keep_finished_s = orphan_s, keep_finished_s
        self.on_idle = on_idle
        self._jobs: dict[Hashable, Job] = {}
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"run-worker-{i}", daemon=True)
                         for i in range(self.workers)]
        self._work_fns: dict[int, Callable[[Job], Any]] = {}
        self._last_idle = 0.0
        for t in self._threads:
            t.start()

    def __repr__(self) -> str:
        return f"RunQueue({len(self._running)} running, {len(self._waiting)} waiting, {self.workers} workers)"

    # --- sessions ---------------------------------------------------------------------------

    def submit(self, key: Hashable, work: Callable[[Job], Any], *, watcher: str,
               estimate_s: float = 0.0) -> Job:
        """The job computing ``key``: the one queued or running, else a new one queued.

        ``work(job)`` runs on a worker thread and returns the result; it should call
        ``job.report`` / ``job.publish`` as it goes (they stop it once cancelled).
        """
        with self._cond:
            self._prune()
            job = self._jobs.get(key)
            if job is None or not job.active:
                job = Job(key, estimate_s=estimate_s)
                self._jobs[key] = job
                self._work_fns[id(job)] = work
                self._waiting.append(job)
                self._cond.notify()
            job.watchers[watcher] = time.monotonic()
            return job

    def job(self, key: Hashable) -> Job | None:
        """The job of ``key`` (active, or finished within ``keep_finished_s``), else None."""
        with self._cond:
            return self._jobs.get(key)

    def watch(self, key: Hashable, watcher: str) -> Job | None:
        """Say ``watcher`` still wants ``key``; returns its job."""
        with self._cond:
            job = self._jobs.get(key)
            if job is not None and job.active:
                job.watchers[watcher] = time.monotonic()
            self._prune()
            return job

    def unwatch(self, key: Hashable, watcher: str) -> None:
        """``watcher`` no longer wants ``key``; a job left unwatched is cancelled."""
        with self._cond:
            job = self._jobs.get(key)
            if job is not None and job.watchers.pop(watcher, None) is not None:
                if job.active and not job.watchers:
                    self._cancel(job)

    def release(self, watcher: str, *, keep: Hashable | None = None) -> None:
        """``watcher`` wants none of its jobs but ``keep``; jobs left unwatched are cancelled."""
        with self._cond:
            for job in list(self._jobs.values()):
                if job.key != keep and watcher in job.watchers:
                    del job.watchers[watcher]
                    if job.active and not job.watchers:
                        self._cancel(job)

    def position(self, job: Job) -> int:
        """0 while running (or finished), else its place among the waiting jobs (1 = next)."""
        with self._cond:
            try:
                return self._waiting.index(job) + 1
            except ValueError:
                return 0

    def wait_s(self, job: Job) -> float:
        """Expected seconds before ``job`` starts: the work ahead of it shared by the workers."""
        with self._cond:
            if job not in self._waiting:
                return 0.0
            ahead = [j.left_s() for j in self._running]
            ahead += [j.estimate_s for j in list(self._waiting)[: self._waiting.index(job)]]
            return sum(ahead) / self.workers

    def counts(self) -> tuple[int, int]:
        """(running, waiting) jobs."""
        with self._cond:
            return len(self._running), len(self._waiting)

    # --- workers ----------------------------------------------------------------------------

    def _cancel(self, job: Job) -> None:
        job.cancel.set()
        if job.state == QUEUED:
            self._waiting.remove(job)
            self._finish(job, CANCELLED)

    def _finish(self, job: Job, state: str, *, result: Any = None,
                error: BaseException | None = None) -> None:
        job.state, job.result, job.error = state, result, error
        job.finished = time.monotonic()
        job.partial = None  # the result (or the error) replaces it; free its memory
        self._work_fns.pop(id(job), None)
        job.done.set()

    def _prune(self) -> None:
        """Forget finished jobs past their keep time; cancel jobs whose watchers all went quiet."""
        now = time.monotonic()
        for key, job in list(self._jobs.items()):
            if not job.active:
                if now - (job.finished or now) > self.keep_finished_s:
                    del self._jobs[key]
                continue
            if job.watchers and all(now - seen > self.orphan_s for seen in job.watchers.values()):
                log.info("Run %s: nobody watches it any more; cancelled", key)
                job.watchers.clear()
                self._cancel(job)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    if not self._cond.wait(timeout=IDLE_S):
                        self._prune()
                        if self._idle_due():
                            self._cond.release()
                            try:
                                self._on_idle()
                            finally:
                                self._cond.acquire()
                job = self._waiting.popleft()
                work = self._work_fns.get(id(job))
                job.state, job.started = RUNNING, time.monotonic()
                job.message = "Starting"
                self._running.append(job)
            try:
                result = work(job)
            except RunCancelled:
                outcome = {"state": CANCELLED}
            except BaseException as err:  # the job's failure is its own, never the worker's
                log.exception("Run %s failed", job.key)
                outcome = {"state": FAILED, "error": err}
            else:
                outcome = {"state": DONE, "result": result}
            with self._cond:
                self._running.remove(job)
                self._finish(job, **outcome)
                due = self._idle_due()
            job = work = outcome = None  # nothing of the run stays referenced by this thread
            if due:
                self._on_idle()

    def _idle_due(self) -> bool:
        """Whether nothing runs or waits and ``on_idle`` was not called lately (lock held)."""
        if self._running or self._waiting or self.on_idle is None:
            return False
        now = time.monotonic()
        if now - self._last_idle < IDLE_S / 2:
            return False
        self._last_idle = now
        return True

    def _on_idle(self) -> None:
        try:
            self.on_idle()
        except Exception:  # releasing memory is best effort
            log.exception("Releasing memory after the runs failed")


#: glibc's M_ARENA_MAX: with one malloc arena per thread, the memory of a run made on one
#: thread stays with that thread's arena long after the run is gone.
_M_ARENA_MAX = -8


def limit_arenas(n: int = 2) -> None:
    """Cap glibc's malloc arenas at ``n`` (best effort; no-op elsewhere), so freed memory can be
    handed back instead of staying spread over many per-thread arenas."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, n)
    except (OSError, AttributeError):
        pass


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc ``malloc_trim``)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused, just not returned
        pass
