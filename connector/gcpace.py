"""The garbage collector's pace during a sync run.

A run holds tens of thousands of live objects (rows, records, plans), and CPython's default pace (a
young collection every 700 net container allocations, each promoting survivors towards full
collections) then spends about 30% of a full sync's CPU traversing objects that are still in use.
Almost everything a run frees goes by reference counting; the collector only finds cycles, and those
wait a little longer. So while any run is in progress the first generation's threshold is raised;
the previous pace is restored when the last run ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RUN_THRESHOLD", "fewer_collections"]

RUN_THRESHOLD = 50_000  # net container allocations between young collections while a run is in progress

_lock = threading.Lock()
_runs = 0
_before: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections(threshold: int = RUN_THRESHOLD) -> Iterator[None]:
    """Collect young objects every `threshold` allocations (not fewer than the current pace) inside the block.
    Runs in several threads share one pace: it is raised by the first and restored by the last to finish."""
    global _runs, _before
    with _lock:
        if _runs == 0:
            _before = gc.get_threshold()
            gc.set_threshold(max(threshold, _before[0]), *_before[1:])
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_before)
