"""The run queue (bounded, shared, cancellable) and the size-bounded stores, without Streamlit pages."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from app.jobs import CANCELLED, DONE, FAILED, RunQueue


def waiter(gate: threading.Event, out=None):
    """Work that reports progress until ``gate`` opens, then returns ``out``."""
    def work(job):
        while not gate.wait(0.01):
            job.report(0.5, "working")
        job.publish("partial")
        return out
    return work


def test_jobs_share_a_key_run_in_order_and_tell_their_place():
    queue = RunQueue(workers=1)
    gate = threading.Event()
    a = queue.submit("a", waiter(gate, 1), watcher="s1", estimate_s=10)
    b = queue.submit("b", waiter(gate, 2), watcher="s2", estimate_s=20)
    c = queue.submit("c", waiter(gate, 3), watcher="s3", estimate_s=30)
    assert queue.submit("b", waiter(gate, 99), watcher="s4") is b  # same run, one job
    assert set(b.watchers) == {"s2", "s4"}
    deadline = time.monotonic() + 5
    while a.state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (queue.position(a), queue.position(b), queue.position(c)) == (0, 1, 2)
    assert queue.counts() == (1, 2)
    assert 0 < queue.wait_s(b) <= 10 and queue.wait_s(c) > queue.wait_s(b)
    gate.set()
    for job in (a, b, c):
        assert job.wait(5)
    assert [j.result for j in (a, b, c)] == [1, 2, 3] and {j.state for j in (a, b, c)} == {DONE}
    assert a.partial is None  # the result replaces the partial, freeing it


def test_unwatched_jobs_are_dropped_or_stopped():
    queue = RunQueue(workers=1)
    gate = threading.Event()
    running = queue.submit("run", waiter(gate), watcher="s1")
    waiting = queue.submit("wait", waiter(gate), watcher="s2")
    while running.state != "running":
        time.sleep(0.01)
    queue.unwatch("wait", "s2")
    assert waiting.state == CANCELLED and queue.position(waiting) == 0
    queue.release("s1")
    assert running.wait(5) and running.state == CANCELLED
    # a session's page that stops polling is forgotten too
    quiet = RunQueue(workers=1, orphan_s=0.05)
    job = quiet.submit("x", waiter(threading.Event()), watcher="gone")
    time.sleep(0.1)
    quiet.watch("another run", "someone else")  # any page polling prunes the queue
    assert job.wait(5) and job.state == CANCELLED


def test_a_failing_job_fails_alone_and_the_worker_goes_on():
    queue = RunQueue(workers=1)

    def broken(job):
        raise RuntimeError("boom")

    bad = queue.submit("bad", broken, watcher="s")
    good = queue.submit("good", lambda job: 42, watcher="s")
    assert bad.wait(5) and good.wait(5)
    assert bad.state == FAILED and str(bad.error) == "boom" and good.result == 42
    # asking again for a failed run starts it afresh
    again = queue.submit("bad", lambda job: "fixed", watcher="s")
    assert again is not bad and again.wait(5) and again.result == "fixed"


def test_sized_store_is_bounded_by_bytes_and_makes_each_value_once():
    pytest.importorskip("streamlit")
    from app.caching import SizedLRU

    store = SizedLRU(max_bytes=3000, ttl_s=None)
    for i in range(5):
        store.put(i, np.zeros(1000, np.uint8))
    assert store.keys() == [2, 3, 4] and store.total == 3000
    store.get(2)
    store.put(5, np.zeros(1000, np.uint8))
    assert store.keys() == [4, 2, 5]  # the least recently used went
    store.put("huge", np.zeros(5000, np.uint8))
    assert "huge" not in store and store.total <= 3000
    calls = []

    def make():
        calls.append(1)
        time.sleep(0.05)
        return np.ones(10, np.uint8)

    threads = [threading.Thread(target=store.get_or_make, args=("k", make)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and store.get("k") is not None
    short = SizedLRU(max_bytes=100, ttl_s=0.01)
    short.put("a", "x")
    time.sleep(0.03)
    assert short.get("a") is None and short.total == 0
