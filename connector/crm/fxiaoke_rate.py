"""A client-side per-path sliding-window limiter, so Fxiaoke's frequency limit is never hit in normal running.

Fxiaoke counts calls per API path in a sliding window (60 or 100 calls per 20 s ⚠; 30004 past it). Each
call first takes a slot here: when `limit` calls to the same path were admitted within the last
`window` seconds (plus a margin for the time a request spends on the wire: half a second, at most a
twentieth of the window), it waits until the
oldest leaves the window. Clock and sleep are injected, so tests never wait; the time spent waiting is
kept for the run's figures.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["PathLimiter", "shared_limiter"]

WIRE_MARGIN_S = 0.5  # a request admitted now may reach the server this much later than the one before it


class PathLimiter:
    """At most `limit` admissions per path within any `window` seconds. Thread-safe."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, margin: float | None = None) -> None:
        self.limit = max(1, limit)
        self.window = window + (min(WIRE_MARGIN_S, window / 20) if margin is None else margin)
        self._clock = clock
        self._sleep = sleep
        self._admitted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time callers spent waiting for a slot
        self.waits = 0

    def acquire(self, path: str) -> float:
        """Wait for a slot on `path`; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                slots = self._admitted.setdefault(path, deque())
                while slots and now - slots[0] >= self.window:
                    slots.popleft()
                if len(slots) < self.limit:
                    slots.append(now)
                    if waited:
                        self.waited_s += waited
                        self.waits += 1
                    return waited
                wait = slots[0] + self.window - now
            self._sleep(wait)
            waited += wait


_SHARED: dict[tuple[str, str, int, float], PathLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(host: str, app_id: str, limit: int, window: float) -> PathLimiter:
    """One limiter per tenant and app in this process: the scheduler's jobs and back-to-back runs on one
    tenant draw on the same windows, so a run does not start by refilling a window the last one filled."""
    key = (host, app_id, limit, window)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = PathLimiter(limit, window)
        return _SHARED[key]
