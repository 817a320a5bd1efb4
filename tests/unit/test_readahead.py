"""`read_ahead` (one page ahead on a worker thread) and `Lanes` (bounded concurrent write calls)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from connector.crm.concurrency import Lanes, in_lane
from connector.readahead import read_ahead

WAIT = 10.0  # seconds an event may take before the test fails (never slept)


def _workers(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


class Source:
    """Pages 0..n-1, recording what was produced and whether the generator was closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.produced: list[int] = []
        self.closed = threading.Event()
        self.asked = [threading.Event() for _ in range(n + 1)]  # asked[i]: page i is being produced

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                self.asked[i].set()
                if i == self.fail_at:
                    raise ValueError(f"page {i} failed")
                self.produced.append(i)
                yield i
            self.asked[self.n].set()
        finally:
            self.closed.set()


def test_pages_come_in_order_and_the_thread_ends() -> None:
    source = Source(5)
    assert list(read_ahead(iter(source), name="ra-order")) == [0, 1, 2, 3, 4]
    assert source.closed.is_set() and not _workers("ra-order")


def test_the_next_page_is_fetched_while_the_current_one_is_processed() -> None:
    source = Source(4)
    pages = read_ahead(iter(source), name="ra-ahead")
    assert next(pages) == 0
    assert source.asked[1].wait(WAIT)  # page 1 is read while page 0 is still being processed
    assert next(pages) == 1
    pages.close()


def test_at_most_one_page_is_held_ahead() -> None:
    source = Source(10)
    pages = read_ahead(iter(source), name="ra-bound")
    assert next(pages) == 0
    assert source.asked[2].wait(WAIT)  # one page queued (1), one held by the worker waiting to queue it (2)
    assert not source.asked[3].is_set() and source.produced == [0, 1, 2]
    pages.close()
    assert not _workers("ra-bound")


def test_an_error_comes_after_the_pages_before_it() -> None:
    source = Source(5, fail_at=2)
    got: list[int] = []
    with pytest.raises(ValueError, match="page 2 failed"):
        for page in read_ahead(iter(source), name="ra-error"):
            got.append(page)
    assert got == [0, 1] and not _workers("ra-error")


def test_a_consumer_that_stops_early_closes_the_source_and_joins_the_thread() -> None:
    source = Source(100)
    pages = read_ahead(iter(source), name="ra-stop")
    with pytest.raises(RuntimeError):
        for page in pages:
            if page == 3:
                raise RuntimeError("the batch crashed")
    pages.close()
    assert source.closed.is_set() and not _workers("ra-stop")
    assert len(source.produced) <= 6


def test_the_worker_is_a_lane() -> None:
    def flags() -> Iterator[bool]:
        yield in_lane()

    assert list(read_ahead(flags(), name="ra-lane")) == [True] and not in_lane()


def test_lanes_merge_in_call_order_whatever_finishes_first() -> None:
    lanes = Lanes(3, "test-order")
    release = threading.Event()
    merged: list[int] = []

    def slow() -> int:
        assert release.wait(WAIT)
        return 0

    def fast(i: int) -> int:
        if i == 2:
            release.set()  # the first call finishes only after a later one
        return i

    lanes.run([slow, *(partial(fast, i) for i in range(1, 5))], merged.append)
    lanes.close()
    assert merged == [0, 1, 2, 3, 4] and not _workers("test-order-write")


def test_a_failing_call_stops_the_rest_and_the_finished_ones_are_merged_first() -> None:
    lanes = Lanes(2, "test-stop")
    started: list[int] = []
    lock = threading.Lock()
    merged: list[int] = []

    def call(i: int) -> int:
        with lock:
            started.append(i)
        if i == 1:
            raise ValueError("quota")
        return i

    calls: list[Callable[[], int]] = [partial(call, i) for i in range(50)]
    with pytest.raises(ValueError, match="quota"):
        lanes.run(calls, merged.append)
    lanes.close()
    assert 1 in started and len(started) < 50  # calls queued after the failure never started
    assert merged == sorted(set(started) - {1})


def test_one_lane_runs_inline() -> None:
    lanes = Lanes(1, "test-inline")
    merged: list[bool] = []
    lanes.run([in_lane, in_lane], merged.append)
    assert merged == [False, False] and not _workers("test-inline")
