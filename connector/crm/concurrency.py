"""Bounded write concurrency: the write calls of one batch on `width` lanes at once.

A lane is a worker thread with its own keep-alive `requests.Session` (`SessionPerThread`), so k
calls are in flight without sharing a connection pool's state. Results are merged in the order the
calls were listed, never in the order they finished, so the outcome of a batch does not depend on
timing. A call that raises (quota used up, auth refused, a retriable error that outlived its
retries) stops the batch: no further call starts, the calls already in flight finish and their
results are merged, then the first error in list order is raised. With ``width == 1`` every call
runs inline on the caller's thread, exactly as a sequential writer would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

import requests

__all__ = ["Lanes", "SessionPerThread", "enter_lane", "in_lane"]

R = TypeVar("R")
S = TypeVar("S", bound=requests.Session)

_lane = threading.local()
_SKIPPED = object()


def in_lane() -> bool:
    """True on a worker thread of some `Lanes` (its calls must use a per-thread session)."""
    return bool(getattr(_lane, "active", False))


def enter_lane() -> None:
    """Mark the calling worker thread as a lane: CRM clients give it its own session."""
    _lane.active = True


class Lanes:
    """Up to `width` write calls at once. The worker threads live until `close()`, so their sessions
    stay warm from one batch to the next."""

    def __init__(self, width: int, name: str) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self.width = width
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, calls: Sequence[Callable[[], R]], merge: Callable[[R], None]) -> None:
        """Run every call, `merge` each result in list order; raise the first error after merging."""
        if self.width == 1 or len(calls) <= 1:
            for call in calls:
                merge(call())
            return
        stop = threading.Event()

        def guarded(call: Callable[[], R]) -> R | object:
            if stop.is_set():
                return _SKIPPED
            try:
                return call()
            except BaseException:
                stop.set()
                raise

        futures: list[Future[R | object]] = [self._executor().submit(guarded, call) for call in calls]
        try:
            wait(futures)
        except BaseException:  # interrupted while waiting: start nothing more, let the calls in flight end
            stop.set()
            raise
        first: BaseException | None = None
        for future in futures:
            error = future.exception()
            if error is not None:
                first = first or error
                continue
            value = future.result()
            if value is not _SKIPPED:
                merge(value)  # type: ignore[arg-type]
        if first is not None:
            raise first

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.width, thread_name_prefix=f"{self._name}-write",
                                                initializer=enter_lane)
            return self._pool

    def close(self) -> None:
        """Wait for the calls in flight and end the worker threads."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class SessionPerThread(Generic[S]):
    """One session per thread, made by `factory` on first use and closed together by `close()`."""

    def __init__(self, factory: Callable[[], S]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._all: list[S] = []
        self._lock = threading.Lock()

    def get(self) -> S:
        session: S | None = getattr(self._local, "session", None)
        if session is None:
            session = self._factory()
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all = self._all, []
        for session in sessions:
            session.close()
